# Two commands do everything on a fresh machine: `make demo` and `make test`.
VENV ?= .venv
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast setup bench lint lock

$(STAMP): pyproject.toml constraints.txt scripts/setup.sh
	VENV=$(VENV) bash scripts/setup.sh

setup: $(STAMP)

demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(VENV)/bin/tailorkit demo

test: $(STAMP)          # everything: tests/unit and tests/integration (what CI runs)
	HF_HUB_OFFLINE=1 $(VENV)/bin/python -m pytest -q

test-fast: $(STAMP)     # the unit tests only (small generated data; under 3 minutes)
	HF_HUB_OFFLINE=1 $(VENV)/bin/python -m pytest -q tests/unit

bench: $(STAMP)
	$(VENV)/bin/python benchmarks/credit.py

lint: $(STAMP)
	$(VENV)/bin/ruff check tailorkit tests benchmarks
	$(VENV)/bin/ruff format --check tailorkit tests benchmarks

lock:    # regenerate constraints.txt from a fresh venv with .[dev]
	bash scripts/lock.sh

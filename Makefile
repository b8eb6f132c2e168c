# Two commands do everything on a fresh machine: `make demo` and `make test`.
VENV ?= .venv
STAMP := $(VENV)/.installed

.PHONY: demo test setup bench lint lock

$(STAMP): pyproject.toml constraints.txt scripts/setup.sh
	VENV=$(VENV) bash scripts/setup.sh

setup: $(STAMP)

demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(VENV)/bin/tailorkit demo

test: $(STAMP)
	HF_HUB_OFFLINE=1 $(VENV)/bin/python -m pytest -q

bench: $(STAMP)
	$(VENV)/bin/python benchmarks/credit.py

lint: $(STAMP)
	$(VENV)/bin/ruff check tailorkit tests benchmarks

lock:    # regenerate constraints.txt from a fresh venv with .[dev]
	bash scripts/lock.sh

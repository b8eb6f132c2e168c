"""The industry solutions: one module each, all with the same shape.

A solution module provides:

- ``DEFAULTS``: its default spec layer (a dict; the user's YAML is merged over it);
- ``SPEC``: its pydantic spec class (a ``tailorkit.spec.SpecBase`` subclass);
- ``METRICS``: the per-model metric names its requirement lines may use;
- ``HEADLINE``: the one metric that sums up a model (``tailorkit models``, run summaries);
- ``BOARD_COLUMNS``: leaderboard column -> console header for the summary table;
- ``init_template(name, options) -> str``: a commented ``tailorkit.yaml`` from the
  ``tailorkit init`` options (raise ``TailorkitError`` naming a missing option);
- ``demo_project(folder) -> (spec_path, description)``: the offline demo project;
- ``describe_data(spec, base_dir) -> (warnings, summary)``: load the data as
  ``tailorkit validate`` checks it;
- ``train(project, registry, run_id, say) -> RunResult``: one run (the pipeline
  registers the run, moves the champion alias when every gate passes);
- ``predict_file(version, source, handle, chunk_rows, warn) -> rows``: ``tailorkit predict``;
- ``COMMANDS``: extra Typer command functions (e.g. ``recommend``) added to the CLI.

Adding a solution means adding one module and one line in ``SOLUTIONS``.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from tailorkit.errors import SpecError

SOLUTIONS = {
    "credit_risk": "tailorkit.solutions.credit_risk",
    "recommendation": "tailorkit.solutions.recommendation",
    "diagnosis": "tailorkit.solutions.diagnosis",
    "maintenance": "tailorkit.solutions.maintenance",
}


def get_solution(name: Any, source: str = "spec") -> ModuleType:
    if name not in SOLUTIONS:
        raise SpecError(
            f"{source}: field 'solution' must be one of {', '.join(SOLUTIONS)} (got {name!r})"
        )
    return importlib.import_module(SOLUTIONS[name])


def require_options(solution: str, options: dict[str, Any], *names: str) -> None:
    """``tailorkit init``: a clear error naming the options a solution needs."""
    missing = [n for n in names if not options.get(n)]
    if missing:
        flags = ", ".join("--" + n.replace("_", "-") for n in missing)
        raise SpecError(f"tailorkit init {solution} needs {flags}")

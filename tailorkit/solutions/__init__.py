"""The solution registry: one line per industry solution, found by name.

Each entry names the module that holds the solution object (``SOLUTION``, a
:class:`tailorkit.solutions.base.Solution`). A solution package may also have a
``commands.py`` whose ``COMMANDS`` (Typer functions) the CLI adds; its imports stay light,
since the CLI loads it at start-up.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from tailorkit.errors import SpecError, shown_value

SOLUTIONS: dict[str, str] = {
    "credit_risk": "tailorkit.solutions.credit_risk.solution",
    "recommendation": "tailorkit.solutions.recommendation.solution",
    "diagnosis": "tailorkit.solutions.diagnosis.solution",
    "maintenance": "tailorkit.solutions.maintenance.solution",
}


def get_solution(name: Any, source: str = "spec") -> Any:
    """The solution object named ``name``; an unknown name is a spec error naming the field."""
    if not isinstance(name, str) or name not in SOLUTIONS:  # a list or mapping: no hash
        raise SpecError(
            f"{source}: field 'solution' must be one of {', '.join(SOLUTIONS)} "
            f"(got {shown_value(name)})"
        )
    return importlib.import_module(SOLUTIONS[name]).SOLUTION


def command_modules() -> list[str]:
    """The ``solutions/<name>/commands.py`` modules that exist (their extra CLI commands)."""
    names = [module.rsplit(".", 1)[0] + ".commands" for module in SOLUTIONS.values()]
    return [name for name in names if importlib.util.find_spec(name) is not None]

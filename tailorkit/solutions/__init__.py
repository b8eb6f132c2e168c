"""The industry solutions. Each module gives its spec defaults and its ``init`` template."""

from __future__ import annotations

from typing import Any

from tailorkit.errors import SpecError
from tailorkit.solutions import credit_risk

SOLUTIONS = {"credit_risk": credit_risk}


def get_solution(name: Any, source: str = "spec"):
    if name not in SOLUTIONS:
        raise SpecError(
            f"{source}: field 'solution' must be one of {', '.join(SOLUTIONS)} (got {name!r})"
        )
    return SOLUTIONS[name]


def solution_defaults(name: Any, source: str = "spec") -> dict[str, Any]:
    """The solution's default spec layer (deep-copied)."""
    import copy

    return copy.deepcopy(get_solution(name, source).DEFAULTS)

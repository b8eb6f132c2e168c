"""Loading a project spec for its solution: the solution's defaults, the user's YAML and the
command line's overrides, validated by the solution's spec class, requirement lines checked
against the solution's metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tailorkit.errors import SpecError
from tailorkit.gates import parse_requirement
from tailorkit.solutions import get_solution
from tailorkit.spec import SpecBase, layer, read_spec_file, validate


def load_spec(
    path: str | Path, overrides: list[str] | None = None
) -> tuple[SpecBase, dict[str, Any]]:
    """Read, layer and validate a spec file; returns the spec and the resolved mapping."""
    user, lines = read_spec_file(path)
    return resolve_spec(user, overrides=overrides, source=str(path), lines=lines)


def resolve_spec(
    user: dict[str, Any],
    *,
    overrides: list[str] | None = None,
    source: str = "spec",
    lines: dict[tuple, int] | None = None,
) -> tuple[SpecBase, dict[str, Any]]:
    """Layer the solution's defaults, the user's mapping and the overrides, then validate."""
    solution = get_solution(user.get("solution"), source)
    spec = validate(solution.spec_class, layer(solution.defaults, user, overrides), source, lines)
    for index, line in enumerate(spec.requirements):
        try:
            parse_requirement(line, solution.metrics)
        except SpecError as error:
            where = (lines or {}).get(("requirements", index))
            where = f"{source} line {where}" if where else source
            raise SpecError(f"{where}: field 'requirements.{index}': {error}") from None
    return spec, spec.model_dump(mode="json")

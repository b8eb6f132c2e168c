"""Read queries over the registry tables inside one session: project, run and version rows,
aliases and metrics; a missing row is a RegistryError that says what exists."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tailorkit.errors import RegistryError
from tailorkit.registry.convert import aware
from tailorkit.registry.tables import AliasRow, MetricRow, ModelVersionRow, ProjectRow, RunRow


def project_id_of(session: Session, workspace: Path, project: str) -> int:
    """The project's row id; an unknown project is a RegistryError."""
    project_id = session.scalar(select(ProjectRow.id).where(ProjectRow.name == project))
    if project_id is None:
        raise RegistryError(
            f"no model '{project}' in workspace {workspace}: run `tailorkit run` first"
        )
    return project_id


def run_row(session: Session, workspace: Path, run_id: int) -> RunRow:
    """The run's row; an unknown run is a RegistryError."""
    row = session.get(RunRow, run_id)
    if row is None:
        raise RegistryError(f"no run {run_id} in workspace {workspace}")
    return row


def latest_version(session: Session, workspace: Path, project: str, project_id: int) -> int:
    """The project's highest version number; none yet is a RegistryError."""
    latest = session.scalar(
        select(func.max(ModelVersionRow.version)).where(ModelVersionRow.project_id == project_id)
    )
    if latest is None:
        raise RegistryError(
            f"{project} has no model versions in workspace {workspace}: run `tailorkit run` first"
        )
    return latest


def version_row(session: Session, project: str, project_id: int, version: int) -> ModelVersionRow:
    """One version's row; an unknown version is a RegistryError listing the known ones."""
    row = session.scalar(
        select(ModelVersionRow).where(
            ModelVersionRow.project_id == project_id, ModelVersionRow.version == version
        )
    )
    if row is None:
        numbers = session.scalars(
            select(ModelVersionRow.version)
            .where(ModelVersionRow.project_id == project_id)
            .order_by(ModelVersionRow.version)
        ).all()
        raise RegistryError(f"{project} has no version {version}; versions: {_ranges(numbers)}")
    return row


def alias_target(session: Session, project: str, project_id: int, alias: str) -> int:
    """The version an alias points at; an unknown alias is a RegistryError."""
    known = alias_map(session, project_id)
    if alias not in known:
        listed = ", ".join(sorted(known)) or "none yet (set one with `tailorkit promote`)"
        raise RegistryError(f"{project} has no alias '{alias}'; aliases: {listed}")
    return known[alias]


def aliases_of(session: Session, project_id: int, version: int) -> tuple[str, ...]:
    """The aliases pointing at one version, sorted."""
    return tuple(
        session.scalars(
            select(AliasRow.alias)
            .where(AliasRow.project_id == project_id, AliasRow.version == version)
            .order_by(AliasRow.alias)
        )
    )


def alias_map(session: Session, project_id: int) -> dict[str, int]:
    rows = session.execute(
        select(AliasRow.alias, AliasRow.version)
        .where(AliasRow.project_id == project_id)
        .order_by(AliasRow.alias)
    )
    return {alias: version for alias, version in rows}


def aliases_by_version(session: Session) -> dict[tuple[int, int], tuple[str, ...]]:
    grouped: dict[tuple[int, int], list[str]] = {}
    rows = session.execute(
        select(AliasRow.project_id, AliasRow.version, AliasRow.alias).order_by(AliasRow.alias)
    )
    for project_id, version, alias in rows:
        grouped.setdefault((project_id, version), []).append(alias)
    return {key: tuple(names) for key, names in grouped.items()}


def metrics_by_run(session: Session, run_ids: list[int]) -> dict[int, dict[str, dict]]:
    grouped: dict[int, dict[str, dict]] = {}
    if not run_ids:
        return grouped
    rows = session.scalars(
        select(MetricRow).where(MetricRow.run_id.in_(run_ids)).order_by(MetricRow.id)
    )
    for row in rows:
        grouped.setdefault(row.run_id, {}).setdefault(row.model_name, {})[row.name] = row.value
    return grouped


def run_dict(project: str, row: RunRow, metrics: dict[str, dict]) -> dict:
    return {
        "id": row.id,
        "project": project,
        "status": row.status,
        "spec": json.loads(row.spec_json),
        "started_at": aware(row.started_at),
        "finished_at": aware(row.finished_at) if row.finished_at else None,
        "report_path": row.report_path,
        "summary": json.loads(row.summary_json) if row.summary_json else None,
        "metrics": metrics,
    }


def _ranges(numbers: list[int]) -> str:
    """``[1, 2, 3, 5]`` -> ``'1-3, 5'``; ``[]`` -> ``'none'``."""
    if not numbers:
        return "none"
    spans: list[list[int]] = []
    for number in numbers:
        if spans and number == spans[-1][1] + 1:
            spans[-1][1] = number
        else:
            spans.append([number, number])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)

"""Data-quality findings: one issue record per problem, ordered by severity."""

from __future__ import annotations

SEVERITIES = ("high", "medium", "low")


def issue(column: str | None, kind: str, severity: str, message: str) -> dict:
    """One data-quality finding; ``severity`` is high, medium or low."""
    return {"column": column, "kind": kind, "severity": severity, "message": message}


def sort_issues(issues: list[dict]) -> list[dict]:
    """High severity first, then by kind and column."""
    return sorted(
        issues,
        key=lambda i: (SEVERITIES.index(i["severity"]), i["kind"], str(i["column"] or "")),
    )

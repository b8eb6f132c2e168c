"""Formatting shared by the run reports: numbers, intervals and percentages for humans,
key-value tables, bullet lists and plot grids."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from tailorkit.report.html import escape, table

MISSING = "–"


def _number(value: Any, digits: int = 3) -> str:
    """A number rounded for humans; missing or non-finite values as a dash."""
    if value is None or isinstance(value, bool):
        return MISSING if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return MISSING
        return f"{value:.{digits}f}" if abs(value) < 1e6 else f"{value:.3g}"
    return str(value)


def _interval(ci: Any, digits: int = 3) -> str:
    if not isinstance(ci, list) or len(ci) != 2 or None in ci:
        return MISSING
    return f"{_number(ci[0], digits)} – {_number(ci[1], digits)}"


def _percent(value: Any) -> str:
    return f"{value:.1%}" if isinstance(value, (int, float)) else MISSING


def _plain_row(row: dict[str, Any], digits: int = 3) -> dict[str, Any]:
    """Numbers formatted; booleans kept so tables show them as PASS/FAIL."""
    return {
        key: value if isinstance(value, bool) else _number(value, digits)
        for key, value in row.items()
    }


def _key_value_table(pairs: Iterable[tuple[str, Any]]) -> str:
    rows = [{"item": label, "value": value} for label, value in pairs if value not in (None, "")]
    return table(rows, ["item", "value"])


def _bullets(items: Iterable[str]) -> str:
    return "<ul>" + "".join(f"<li>{escape(item)}</li>" for item in items) + "</ul>"


def _grid(*images: str) -> str:
    shown = [image for image in images if image]
    return f'<div class="grid">{"".join(shown)}</div>' if shown else ""


def _yes_no(value: Any) -> str | None:
    return None if value is None else ("yes" if value else "no")

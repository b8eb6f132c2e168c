"""Building blocks for self-contained HTML reports: one file, plots embedded as PNG data."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterable
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:1100px;color:#1f2933;line-height:1.45;padding:0 1rem}
h1{font-size:1.6rem;border-bottom:2px solid #3b82f6;padding-bottom:.3rem}
h2{font-size:1.25rem;margin-top:2rem;color:#1e3a8a}
table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.88rem}
th,td{border:1px solid #d0d7de;padding:.25rem .55rem;text-align:right}
th{background:#f1f5f9}td:first-child,th:first-child{text-align:left}
.pass{color:#15803d;font-weight:600}.fail{color:#b91c1c;font-weight:600}
.note{color:#52606d;font-size:.9rem}.grid{display:flex;flex-wrap:wrap;gap:1rem}
img{max-width:520px;border:1px solid #e5e7eb}
"""


def escape(value: Any) -> str:
    return html.escape(str(value))


def fmt(value: Any, digits: int = 4) -> str:
    """Numbers rounded for humans; everything else as text."""
    if isinstance(value, bool) or value is None:
        return escape("" if value is None else value)
    if isinstance(value, float):
        return f"{value:.{digits}f}" if abs(value) < 1e6 else f"{value:.3g}"
    if (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(isinstance(v, float) for v in value)
    ):
        return f"[{value[0]:.{digits}f}, {value[1]:.{digits}f}]"
    return escape(value)


def table(rows: Iterable[dict[str, Any]], columns: list[str] | None = None) -> str:
    """An HTML table from a list of dicts (columns default to the first row's keys)."""
    rows = list(rows)
    if not rows:
        return '<p class="note">(none)</p>'
    columns = columns or list(rows[0])
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_cell(row.get(c))}</td>" for c in columns) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value: Any) -> str:
    if value is True:
        return '<span class="pass">PASS</span>'
    if value is False:
        return '<span class="fail">FAIL</span>'
    return fmt(value)


def figure(fig: plt.Figure) -> str:
    """Embed a matplotlib figure as a PNG data URI and close it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="plot" src="data:image/png;base64,{data}">'


def section(title: str, *parts: str) -> str:
    return f"<section><h2>{escape(title)}</h2>{''.join(parts)}</section>"


def paragraph(text: str, note: bool = False) -> str:
    return f'<p class="note">{escape(text)}</p>' if note else f"<p>{escape(text)}</p>"


def page(title: str, sections: Iterable[str]) -> str:
    """A whole HTML document: no external CSS, scripts or images."""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{escape(title)}</h1>{''.join(sections)}</body></html>"
    )

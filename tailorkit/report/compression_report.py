"""The compression report: the trade-off table of ``tailorkit compress`` as one HTML page."""

from __future__ import annotations

from typing import Any

from tailorkit.report.html import page, paragraph, section, table

TABLE_COLUMNS = [
    "name",
    "description",
    "size_bytes",
    "auc",
    "quality_delta",
    "decision_agreement",
    "p50_ms",
    "p99_ms",
    "model_p50_ms",
    "model_p99_ms",
    "passed",
]


def render(document: dict[str, Any]) -> str:
    """The page of a compression document (``source``, ``protocol``, ``variants`` rows, the
    limits, ``chosen`` and ``registered``)."""
    limits = (
        f"max quality drop {document['max_quality_drop']}; p99 latency limit "
        f"{document['p99_latency_ms_limit'] or 'none'} ms; chosen: {document['chosen'] or 'none'}"
        f"; registered as {document['registered'] or 'nothing'}"
    )
    return page(
        f"Compression of {document['source']}",
        [
            section(
                "Trade-off",
                table(document["variants"], TABLE_COLUMNS),
                paragraph(limits),
                paragraph(document["protocol"], note=True),
            ),
            section(
                "Notes",
                *[
                    paragraph(f"{v['name']}: {v['notes']}", note=True)
                    for v in document["variants"]
                    if v.get("notes")
                ],
            ),
        ],
    )

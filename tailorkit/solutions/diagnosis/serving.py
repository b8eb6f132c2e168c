"""Serving a diagnosis version: probability, decision at the clinical operating point and
the top factors for each posted patient row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from tailorkit.errors import DataError
from tailorkit.registry import ModelVersion
from tailorkit.solutions.diagnosis.predict import DiagnosisScorer
from tailorkit.solutions.serving import ServingAdapter, type_problem


class DiagnosisAdapter(ServingAdapter):
    """Rows of the patient table (with the note / image-path columns the model reads)."""

    kinds = frozenset({"predict"})

    def __init__(self, version: ModelVersion, solution: str) -> None:
        super().__init__(version, solution)
        self.scorer = DiagnosisScorer(version)
        schema = getattr(self.scorer.model, "schema_", None) or {}
        self.types = {c: schema.get(c, "categorical") for c in self.scorer.columns}
        self.base_dir = Path(self.scorer.decision.get("base_dir") or ".")

    def check_rows(self, rows: list[dict[str, Any]]) -> list[str]:
        needed = self.scorer.columns + self.scorer.side_columns
        for index, row in enumerate(rows):
            missing = [c for c in needed if c not in row]
            if missing:
                raise DataError(
                    f"rows[{index}] lacks field(s) {', '.join(map(repr, missing))} that model "
                    f"{self.scorer.ref} needs (null is allowed)"
                )
            for column, kind in self.types.items():
                problem = type_problem(kind, row[column])
                if problem:
                    raise DataError(f"rows[{index}].{column}: {problem}")
        return []

    def predict_rows(self, rows: list[dict[str, Any]], reasons: int) -> list[dict[str, Any]]:
        needed = self.scorer.columns + self.scorer.side_columns
        extra = [self.scorer.key] if self.scorer.key and self.scorer.key not in needed else []
        columns = needed + [c for c in extra if any(c in row for row in rows)]
        frame = pd.DataFrame.from_records(rows, columns=columns)
        scores = self.scorer.score(frame, self.base_dir)
        out = []
        for i, record in enumerate(scores.to_dict(orient="records")):
            item: dict[str, Any] = {
                "probability": float(record["probability"]),
                "decision": record["decision"],
            }
            if reasons:
                factors = [record[f"factor_{r + 1}"] for r in range(3)]
                item["reasons"] = [f for f in factors if f][:reasons]
            if self.scorer.key and self.scorer.key in rows[i]:
                item[self.scorer.key] = rows[i][self.scorer.key]
            out.append(item)
        return out

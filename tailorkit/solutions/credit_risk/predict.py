"""Score a file with a registered model, streaming it in chunks (never loaded whole)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd

from tailorkit.data.io import iter_table_chunks
from tailorkit.errors import DataError
from tailorkit.models import load_model
from tailorkit.models.base import TabularModel
from tailorkit.registry import Registry

DECISION_FILE = "decision.json"


class Scorer:
    """A loaded model with its decision policy: probability, decision, reason codes."""

    def __init__(self, model: TabularModel, decision: dict, ref: str = ""):
        self.model = model
        self.decision = decision
        self.ref = ref

    @classmethod
    def from_registry(cls, ref: str, workspace: str | Path = ".tailorkit") -> Scorer:
        return cls.from_version(Registry(workspace).resolve(ref, verify=True))

    @classmethod
    def from_version(cls, version) -> Scorer:
        """A registered model version (``Registry.resolve``)."""
        decision = json.loads((version.path / DECISION_FILE).read_text())
        return cls(load_model(version.path), decision, f"{version.project}:{version.version}")

    def score(self, frame: pd.DataFrame, *, reasons: int = 3) -> pd.DataFrame:
        """Scores for one chunk; missing columns are an error naming them."""
        columns = self.decision["columns"]
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise DataError(
                f"the file lacks column(s) {', '.join(map(repr, missing))} that model "
                f"{self.ref} needs; add them (empty values are allowed)"
            )
        probability = self.model.predict_proba(frame[columns])[:, 1]
        out = pd.DataFrame(index=frame.index)
        key = self.decision.get("key")
        if key and key in frame.columns:
            out[key] = frame[key]
        out["probability"] = np.round(probability, 6)
        out["decision"] = np.where(probability > self.decision["threshold"], "reject", "accept")
        if reasons:
            out = out.join(self._reason_columns(frame[columns], reasons))
        return out

    def _reason_columns(self, frame: pd.DataFrame, top: int) -> pd.DataFrame:
        try:
            contributions = self.model.explain(frame)
        except NotImplementedError:
            return pd.DataFrame(index=frame.index)
        values = contributions.to_numpy()
        order = np.argsort(-values, axis=1)[:, :top]
        names = np.array(contributions.columns)
        columns = {}
        for rank in range(min(top, values.shape[1])):
            picked = order[:, rank]
            positive = values[np.arange(len(values)), picked] > 0
            columns[f"reason_{rank + 1}"] = np.where(positive, names[picked], "")
        return pd.DataFrame(columns, index=frame.index)

    def extra_columns(self, frame: pd.DataFrame) -> list[str]:
        expected = set(self.decision["columns"]) | {self.decision.get("key")}
        return [c for c in frame.columns if c not in expected]


def score_file(
    scorer: Scorer,
    source: str | Path,
    out: IO[str] | None = None,
    *,
    chunk_rows: int = 50_000,
    encoding: str = "utf-8",
    warn: Callable[[str], None] | None = None,
) -> int:
    """Write CSV scores for every row of ``source`` to ``out``; returns the row count."""
    out = out or sys.stdout
    rows = 0
    for number, chunk in enumerate(
        iter_table_chunks(source, chunk_rows=chunk_rows, encoding=encoding)
    ):
        chunk.index = pd.RangeIndex(rows, rows + len(chunk))  # data-row numbers in messages
        if number == 0 and warn:
            extra = scorer.extra_columns(chunk)
            if extra:
                warn(
                    f"{source}: column(s) {', '.join(map(repr, extra))} are not used by "
                    f"model {scorer.ref} and were ignored"
                )
        try:
            scores = scorer.score(chunk)
        except DataError as error:
            raise DataError(f"{source}: {error}") from None
        scores.to_csv(out, header=number == 0, index=False)
        rows += len(scores)
    return rows

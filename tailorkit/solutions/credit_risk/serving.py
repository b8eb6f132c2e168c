"""Serving a credit-risk version: probability, decision at its threshold, reason codes;
a numpy fast path (no pandas) for the families whose preprocessing it reproduces."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tailorkit.compress.edge import preprocessing_document
from tailorkit.compress.edge_runner import encode_rows
from tailorkit.errors import DataError
from tailorkit.registry import ModelVersion
from tailorkit.solutions.credit_risk.predict import Scorer
from tailorkit.solutions.serving import ServingAdapter, type_problem

CHEAP_ROWS = {
    "lightgbm": 64,
    "random_forest": 64,
    "compressed": 64,
    "ft_transformer": 16,
}  # scored on the loop


class ScoringAdapter(ServingAdapter):
    """Binary scoring (credit risk, fraud, diagnosis): probability, decision, reason codes.

    The decision labels come from the model's ``decision.json`` (``labels``: positive and
    negative), defaulting to credit's ``reject`` / ``accept``; so do its protected columns
    (``protected``: the spec's ``features.protected``, kept from an experiment's rows for its
    fairness guardrail).
    """

    kinds = frozenset({"predict"})

    def __init__(self, version: ModelVersion, solution: str) -> None:
        super().__init__(version, solution)
        self.scorer = Scorer.from_version(version)
        decision = self.scorer.decision
        self.columns: list[str] = list(decision["columns"])
        self.key = decision.get("key")
        self.input_columns = tuple(self.columns)
        self.privacy = decision.get("privacy")
        self.protected = tuple(str(c) for c in (self.privacy or {}).get("protected") or ())
        labels = decision.get("labels") or {}
        self.positive = str(labels.get("positive", "reject"))
        self.negative = str(labels.get("negative", "accept"))
        schema = getattr(self.scorer.model, "schema_", {}) or {}
        self.types = {c: schema.get(c, "categorical") for c in self.columns}
        preprocessor = _preprocessor_of(self.scorer.model)
        self.levels: dict[str, set[str]] = {
            c: set(v) for c, v in (getattr(preprocessor, "levels_", None) or {}).items()
        }
        self.fast = FastPath.build(self.scorer.model, decision)

    def check_rows(self, rows: list[dict[str, Any]]) -> list[str]:
        """Missing columns and wrong value types are errors; unknown categories are warnings."""
        warnings: list[str] = []
        for index, row in enumerate(rows):
            missing = [c for c in self.columns if c not in row]
            if missing:
                raise DataError(
                    f"rows[{index}] lacks field(s) {', '.join(map(repr, missing))} that model "
                    f"{self.version.project}:{self.version.version} needs (null is allowed)"
                )
            for column in self.columns:
                problem = type_problem(self.types[column], row[column])
                if problem:
                    raise DataError(f"rows[{index}].{column}: {problem}")
                value = row[column]
                levels = self.levels.get(column)
                if levels and value is not None and str(value).strip() not in levels:
                    warnings.append(
                        f"rows[{index}].{column}: unknown category {str(value)[:40]!r} "
                        "scored as missing"
                    )
        return warnings

    def predict_rows(self, rows: list[dict[str, Any]], reasons: int) -> list[dict[str, Any]]:
        if self.fast is not None and self.fast.accepts(rows):
            probability, reason_values = self.fast.score(rows, reasons)
        else:
            probability, reason_values = self._score_with_pandas(rows, reasons)
        threshold = float(self.scorer.decision["threshold"])
        out = []
        for i, p in enumerate(probability):
            item: dict[str, Any] = {
                "probability": float(p),
                "decision": self.positive if p > threshold else self.negative,
            }
            if reason_values is not None:
                item["reasons"] = [str(r) for r in reason_values[i] if r]
            if self.key and self.key in rows[i]:
                item[self.key] = rows[i][self.key]
            out.append(item)
        return out

    def is_cheap(self, rows: list[dict[str, Any]]) -> bool:
        return (
            self.fast is not None
            and len(rows) <= CHEAP_ROWS.get(self.fast.model.family, 0)
            and self.fast.accepts(rows)
        )

    def _score_with_pandas(self, rows: list[dict[str, Any]], reasons: int):
        frame = pd.DataFrame.from_records(rows, columns=self.columns)
        scores = self.scorer.score(frame, reasons=reasons)
        reason_columns = [c for c in scores.columns if c.startswith("reason_")]
        reason_values = scores[reason_columns].to_numpy() if reason_columns else None
        return scores["probability"].to_numpy(float), reason_values

    def score_frame(self, frame: pd.DataFrame) -> np.ndarray:
        """Probabilities only (the in-process floor the benchmark compares against)."""
        return self.scorer.model.predict_proba(frame[self.columns])[:, 1]


class FastPath:
    """Rows straight to the network or booster with numpy preprocessing (the edge runner's
    ``encode_rows``, equal to the pandas preprocessor), skipping pandas' per-call overhead.

    Used for FT-Transformer, LightGBM, random-forest and compressed models without date
    columns, when every categorical value is a string or null (numbers in a categorical
    column go through pandas, whose string forms of numbers the training data shares).
    """

    FAMILIES = ("ft_transformer", "lightgbm", "random_forest", "compressed")
    BOOSTERS = ("lightgbm", "random_forest")

    def __init__(self, model: Any, spec: dict[str, Any]) -> None:
        self.model = model
        self.spec = spec
        self.categoricals = list(spec["categorical_columns"])
        self.columns = list(spec["types"])

    @classmethod
    def build(cls, model: Any, decision: dict[str, Any]) -> FastPath | None:
        if getattr(model, "family", None) not in cls.FAMILIES:
            return None
        preprocessor = model.preprocessor_
        if any(preprocessor.schema.get(c) == "datetime" for c in preprocessor.columns_):
            return None
        quantiles = getattr(model, "quantiles_", None)
        if model.family in cls.BOOSTERS:
            quantiles = None
        return cls(model, preprocessing_document(preprocessor, quantiles, decision))

    def accepts(self, rows: list[dict[str, Any]]) -> bool:
        return all(
            row[column] is None or isinstance(row[column], str)
            for row in rows
            for column in self.categoricals
        )

    def score(self, rows: list[dict[str, Any]], reasons: int):
        """(probabilities rounded as the Scorer does, reason names per row or None)."""
        numeric, codes = encode_rows(self.spec, rows)
        model = self.model
        reason_values = None
        if model.family in self.BOOSTERS:
            matrix = np.hstack(
                [numeric.astype(float), np.where(codes > 0, codes, np.nan).astype(float)]
            )
            score = model._scores_of(matrix)
            if reasons:
                reason_values = _top_reasons(model._contributions_of(matrix), self.columns, reasons)
        elif model.family == "compressed":
            score = 1.0 / (1.0 + np.exp(-model.logits(numeric, codes).astype(np.float64)))
        else:
            score = _ft_probabilities(model, numeric, codes)
        return np.round(np.clip(score, 0.0, 1.0), 6), reason_values


def _ft_probabilities(model: Any, numeric: np.ndarray, codes: np.ndarray) -> np.ndarray:
    import torch

    from tailorkit.models.torch_utils import torch_threads  # lazy: torch, for FT models only

    with torch_threads(model.n_threads), torch.no_grad():
        model.network_.eval()
        logits = model.network_(torch.from_numpy(numeric), torch.from_numpy(codes))
    return torch.sigmoid(logits).double().numpy()


def _top_reasons(contributions: np.ndarray, names: list[str], top: int) -> np.ndarray:
    """As ``Scorer``: the ``top`` largest contributions per row, named when positive."""
    order = np.argsort(-contributions, axis=1)[:, :top]
    labels = np.array(names)
    columns = []
    for rank in range(min(top, contributions.shape[1])):
        picked = order[:, rank]
        positive = contributions[np.arange(len(contributions)), picked] > 0
        columns.append(np.where(positive, labels[picked], ""))
    return np.column_stack(columns) if columns else None


def _preprocessor_of(model: Any) -> Any:
    try:
        return model.preprocessor_
    except (AttributeError, IndexError, KeyError):
        return None

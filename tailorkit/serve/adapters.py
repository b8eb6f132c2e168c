"""Per-solution serving adapters: how one loaded model version answers the endpoints.

The service never knows a solution's internals. For a project it asks
``Registry.solution_of(project)`` and ``load_adapter(solution, version)`` builds an
``Adapter``; the adapter declares the endpoint kinds it answers (``predict``, ``recommend``,
``monitor``) and implements those. A solution plugs in either with ``SERVE_ADAPTER =
"module:Class"`` in its solution module or with a line in ``BUILTIN_ADAPTERS``.
"""

from __future__ import annotations

import importlib
import logging
import math
import threading
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from tailorkit.errors import DataError, TailorkitError
from tailorkit.registry import ModelVersion

log = logging.getLogger("tailorkit.serve")

BUILTIN_ADAPTERS = {
    "credit_risk": "tailorkit.serve.adapters:ScoringAdapter",
    "fraud": "tailorkit.serve.adapters:ScoringAdapter",
    "diagnosis": "tailorkit.serve.adapters:ScoringAdapter",
    "recommendation": "tailorkit.serve.adapters:RecommendationAdapter",
    "maintenance": "tailorkit.serve.adapters:MaintenanceAdapter",
}
CHEAP_ROWS = {
    "lightgbm": 64,
    "random_forest": 64,
    "compressed": 64,
    "ft_transformer": 16,
}  # scored on the loop
ENDPOINT_NOUNS = {
    "predict": "a scoring",
    "recommend": "a recommendation",
    "monitor": "a maintenance (RUL / monitoring)",
}


class UnsupportedEndpoint(TailorkitError):
    """The project's solution does not answer this endpoint kind."""


class Adapter:
    """One loaded model version behind the service's endpoints.

    Subclasses set ``kinds`` and implement the matching methods; every method receives
    plain JSON-like data and returns JSON-like data. ``answer_batch`` gets the items of
    several requests at once (micro-batching: rows to score, or recommend requests) and
    returns one output dict per item.
    ``check_rows`` runs per request before batching, so one bad request cannot fail others;
    it raises ``DataError`` naming the row and field, and returns warnings.
    """

    kinds: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, version: ModelVersion, solution: str) -> None:
        self.version = version
        self.solution = solution

    def check_rows(self, rows: list[dict[str, Any]]) -> list[str]:
        raise self.unsupported("predict")

    def predict_rows(self, rows: list[dict[str, Any]], reasons: int) -> list[dict[str, Any]]:
        raise self.unsupported("predict")

    def answer_batch(self, items: list[dict[str, Any]], reasons: int) -> list[dict[str, Any]]:
        """What the micro-batcher calls: by default the items are rows to score."""
        return self.predict_rows(items, reasons)

    def is_cheap(self, rows: list[dict[str, Any]]) -> bool:
        """True when scoring ``rows`` takes well under a millisecond or two: the batcher then
        scores them on the event loop, saving two thread switches per request."""
        return False

    def recommend(self, request: dict[str, Any]) -> dict[str, Any]:
        raise self.unsupported("recommend")

    def monitor(self, request: dict[str, Any]) -> dict[str, Any]:
        raise self.unsupported("monitor")

    def unsupported(self, kind: str) -> UnsupportedEndpoint:
        return UnsupportedEndpoint(
            f"project '{self.version.project}' is a {self.solution} project, not "
            f"{ENDPOINT_NOUNS[kind]} project; it answers: {', '.join(sorted(self.kinds))}"
        )


class ScoringAdapter(Adapter):
    """Binary scoring (credit risk, fraud, diagnosis): probability, decision, reason codes.

    The decision labels come from the model's ``decision.json`` (``labels``: positive and
    negative), defaulting to credit's ``reject`` / ``accept``.
    """

    kinds = frozenset({"predict"})

    def __init__(self, version: ModelVersion, solution: str) -> None:
        from tailorkit.predict import Scorer

        super().__init__(version, solution)
        self.scorer = Scorer.from_version(version)
        decision = self.scorer.decision
        self.columns: list[str] = list(decision["columns"])
        self.key = decision.get("key")
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
                problem = _type_problem(self.types[column], row[column])
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
        from tailorkit.compress.edge import preprocessing_document

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
        from tailorkit.compress.edge_runner import encode_rows

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

    from tailorkit.models.ft_transformer import _threads

    with _threads(model.n_threads), torch.no_grad():
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


class RecommendationAdapter(Adapter):
    """Top-K items for a user: seen and rule-blocked items excluded; users without history
    get the (segment) popularity fallback, said in ``source`` and ``note``; a request's
    ``context`` gives a new user's segment attributes (``{"region": "north"}``)."""

    kinds = frozenset({"recommend"})

    def __init__(self, version: ModelVersion, solution: str) -> None:
        from tailorkit.solutions.recommendation import Recommendations

        super().__init__(version, solution)
        self.recommender = Recommendations(version)
        try:  # one native call per batch, off the GIL (see SASRec.compile)
            self.recommender.model.compile()
        except Exception as error:  # noqa: BLE001 - eager scoring still answers
            name = f"{version.project}:{version.version}"
            log.warning("%s: scoring stays eager (compile failed: %s)", name, error)

    def recommend(self, request: dict[str, Any]) -> dict[str, Any]:
        return self.answer_batch([request], 0)[0]

    def is_cheap(self, rows: list[dict[str, Any]]) -> bool:
        """One user: a single forward pass and top-K (about a millisecond), answered on the
        event loop; batches of several users go to the scoring thread."""
        return len(rows) == 1

    def answer_batch(self, items: list[dict[str, Any]], reasons: int) -> list[dict[str, Any]]:
        """Several users' requests in one model call: the largest k, each cut to its own."""
        from tailorkit.models.ft_transformer import _threads

        ks = [int(item.get("k") or self.recommender.state["k"]) for item in items]
        users = [str(item["user"]) for item in items]
        # a new user's segment values (e.g. {"region": "north"}); the note names any unused
        given = {u: i["context"] for u, i in zip(users, items, strict=True) if i.get("context")}
        with _threads(None):  # half the cores: the event loop and other requests need the rest
            results, _ = self.recommender.for_users(users, max(ks), None, given)
        return [{"k": k, **r, "items": r["items"][:k]} for k, r in zip(ks, results, strict=True)]


class MaintenanceAdapter(Adapter):
    """Streaming readings per asset: updated RUL with its band, failure probability,
    anomaly score and newly crossed alerts (``Monitor`` state lives with the version)."""

    kinds = frozenset({"monitor"})

    def __init__(self, version: ModelVersion, solution: str) -> None:
        from tailorkit.solutions.maintenance_bundle import MaintenanceBundle
        from tailorkit.solutions.maintenance_monitor import Monitor

        super().__init__(version, solution)
        self.monitor_state = Monitor(MaintenanceBundle.from_version(version))
        self.lock = threading.Lock()

    def monitor(self, request: dict[str, Any]) -> dict[str, Any]:
        with self.lock:  # readings of one asset must be applied in order
            updates = [
                self.monitor_state.update(request["asset"], reading)
                for reading in request["readings"]
            ]
        latest = {  # JSON has no NaN/inf: a value the model cannot give is null
            k: None if isinstance(v, float) and not math.isfinite(v) else v
            for k, v in updates[-1].items()
        }
        latest["alerts"] = sorted({a for u in updates for a in u["alerts"]})
        return {**latest, "readings": len(updates)}


def load_adapter(solution: str, version: ModelVersion) -> Adapter:
    """The adapter for ``solution``: the solution module's ``SERVE_ADAPTER`` or a built-in."""
    target = _solution_adapter(solution) or BUILTIN_ADAPTERS.get(solution)
    if target is None:
        raise UnsupportedEndpoint(
            f"solution '{solution}' has no serving adapter yet; see docs/serving.md"
        )
    module_name, _, class_name = target.partition(":")
    adapter_class = getattr(importlib.import_module(module_name), class_name)
    return adapter_class(version, solution)


def _solution_adapter(solution: str) -> str | None:
    from tailorkit.solutions import SOLUTIONS, get_solution

    if solution not in SOLUTIONS:
        return None
    return getattr(get_solution(solution), "SERVE_ADAPTER", None)


def _preprocessor_of(model: Any) -> Any:
    try:
        return model.preprocessor_
    except (AttributeError, IndexError, KeyError):
        return None


def _type_problem(kind: str, value: Any) -> str | None:
    """Why ``value`` cannot feed a column of type ``kind`` (None when it can)."""
    if value is None:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN and infinity are not allowed; send null for a missing value"
    if kind == "numeric" and (isinstance(value, bool) or not isinstance(value, (int, float))):
        return f"must be a number or null, got {_describe(value)}"
    if kind == "boolean" and not isinstance(value, (bool, int, str)):
        return f"must be true/false or null, got {_describe(value)}"
    if kind == "boolean" and isinstance(value, str):
        if value.strip().lower() not in ("true", "false", "yes", "no", "1", "0", "y", "n"):
            return f"must be true/false or null, got {_describe(value)}"
    if kind == "datetime" and not isinstance(value, str):
        return f"must be a date string (e.g. 2024-05-31) or null, got {_describe(value)}"
    if kind == "datetime":
        try:
            pd.Timestamp(value)
        except (ValueError, TypeError):
            return f"must be a date string (e.g. 2024-05-31) or null, got {_describe(value)}"
    if kind == "categorical" and not isinstance(value, (str, int, float, bool)):
        return f"must be a string, number or null, got {_describe(value)}"
    return None


def _describe(value: Any) -> str:
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    return type(value).__name__

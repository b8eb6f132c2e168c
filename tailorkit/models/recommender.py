"""The recommender contract shared by every recommendation model family.

``fit(data, valid=None) -> self`` learns from per-user item sequences;
``score(histories) -> (n, n_items)`` scores every catalogue item for each given history
(a user is what they did: unknown users are an empty history); ``recommend`` ranks,
excluding seen and rule-blocked items. ``save``/``load`` write ``model.json`` (family,
parameters, JSON state) and ``weights.safetensors`` (arrays); loading runs no code from
the files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tailorkit.errors import RegistryError

MODEL_FILE = "model.json"
WEIGHTS_FILE = "weights.safetensors"


@dataclass
class TrainingSequences:
    """What recommenders learn from: item-code sequences per user, in time order."""

    sequences: list[np.ndarray]
    n_items: int
    times: list[np.ndarray] | None = None
    weights: list[np.ndarray] | None = None
    item_vectors: np.ndarray | None = None  # (n_items, d) text embeddings, 0 rows = no text


@dataclass
class Validation:
    """Validation cases for early stopping (histories and the next item)."""

    histories: list[np.ndarray]
    targets: np.ndarray
    exclude_seen: bool = True  # rank them as the evaluation does

    def ndcg(self, score, n_items: int) -> float:
        """NDCG@10 of a scorer (histories -> item scores) on these cases."""
        return float(self.case_ndcg(score, n_items).mean())

    def case_ndcg(self, score, n_items: int) -> np.ndarray:
        """NDCG@10 per case (for paired comparisons of two scorers)."""
        from tailorkit.evaluate.ranking import evaluate_scorer, per_case

        ranks, _ = evaluate_scorer(
            score, self.histories, self.targets, n_items, exclude_seen=self.exclude_seen
        )
        return per_case(ranks, "ndcg@10")


class Recommender:
    """Base class: keyword-only parameters stored as given; fitted state ends in ``_``."""

    family = "recommender"
    n_items_: int

    def get_params(self) -> dict[str, Any]:
        import inspect

        names = inspect.signature(type(self).__init__).parameters
        return {n: getattr(self, n) for n in names if n != "self"}

    def fit(self, data: TrainingSequences, valid: Validation | None = None) -> Recommender:
        raise NotImplementedError

    def score(self, histories: list[np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def compile(self) -> Recommender:
        """Prepare to serve: a family whose scoring is many small Python-level operator calls
        moves it into one native call (SASRec: onnxruntime). A no-op for the rest."""
        return self

    def recommend(
        self,
        histories: list[np.ndarray],
        k: int = 10,
        *,
        exclude_seen: bool = True,
        blocked: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` item codes and scores per history (``-1``/NaN pad when fewer exist)."""
        from tailorkit.evaluate.ranking import seen_mask, top_k

        scores = np.asarray(self.score(histories), dtype=np.float64)
        excluded = np.zeros_like(scores, dtype=bool)
        if exclude_seen:
            excluded |= seen_mask(histories, self.n_items_)
        if blocked is not None and len(blocked):
            excluded |= np.asarray(blocked, dtype=bool)[None, :]
        scores = np.where(excluded, -np.inf, scores)
        k = max(0, int(k))
        items = top_k(scores, min(k, self.n_items_)) if k else np.zeros((len(scores), 0), int)
        values = np.take_along_axis(scores, items, axis=1)
        items = np.where(np.isfinite(values), items, -1)
        values = np.where(np.isfinite(values), values, np.nan)
        return items, values

    # ------------------------------------------------------------ persistence
    def _arrays(self) -> dict[str, np.ndarray]:
        """Fitted arrays to save (float32/int64 numpy)."""
        return {}

    def _state(self) -> dict[str, Any]:
        """Fitted JSON-plain state to save (besides the arrays)."""
        return {}

    def _restore(self, arrays: dict[str, np.ndarray], state: dict[str, Any]) -> None:
        raise NotImplementedError

    def save(self, folder: str | Path) -> Path:
        from safetensors.numpy import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        document = {
            "family": self.family,
            "params": self.get_params(),
            "state": {"n_items": int(self.n_items_), **self._state()},
        }
        (folder / MODEL_FILE).write_text(json.dumps(document, indent=1))
        arrays = {k: np.ascontiguousarray(v) for k, v in self._arrays().items()}
        save_file(arrays or {"_empty": np.zeros(1, np.float32)}, str(folder / WEIGHTS_FILE))
        return folder


def recommender_families() -> dict[str, type[Recommender]]:
    from tailorkit.models.als import ImplicitALS
    from tailorkit.models.item_knn import ItemKNN
    from tailorkit.models.popularity import Popularity
    from tailorkit.models.sasrec import SASRec

    return {cls.family: cls for cls in (Popularity, ItemKNN, ImplicitALS, SASRec)}


def make_recommender(family: str, **params) -> Recommender:
    families = recommender_families()
    if family not in families:
        raise RegistryError(f"unknown recommender {family!r}; choose from {', '.join(families)}")
    return families[family](**params)


def load_recommender(folder: str | Path) -> Recommender:
    """Load a saved recommender folder: JSON and safetensors only."""
    from safetensors.numpy import load_file

    folder = Path(folder)
    config = folder / MODEL_FILE
    if not config.exists():
        raise RegistryError(f"{folder} is not a saved tailorkit recommender (no {MODEL_FILE})")
    document = json.loads(config.read_text())
    families = recommender_families()
    family = document.get("family")
    if family not in families:
        raise RegistryError(f"{config}: unknown recommender family {family!r}")
    model = families[family](**document.get("params", {}))
    arrays = load_file(str(folder / WEIGHTS_FILE))
    arrays.pop("_empty", None)
    state = document.get("state", {})
    model.n_items_ = int(state.get("n_items", 0))
    try:
        model._restore(arrays, state)
    except RegistryError as error:
        raise RegistryError(f"{config}: {error}") from None
    return model


def histories_matrix(histories: list[np.ndarray], n_items: int, weights=None):
    """Sparse (n × items) CSR with 1 (or the weight) for every history item."""
    from scipy.sparse import csr_matrix

    lengths = [len(h) for h in histories]
    rows = np.repeat(np.arange(len(histories)), lengths)
    cols = np.concatenate(histories) if rows.size else np.zeros(0, np.int64)
    values = np.concatenate(weights) if weights is not None and rows.size else np.ones(len(rows))
    matrix = csr_matrix((values.astype(np.float32), (rows, cols)), shape=(len(histories), n_items))
    matrix.sum_duplicates()
    return matrix

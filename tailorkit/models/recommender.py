"""The recommenders' part of the model contract.

``fit(data, valid=None) -> self`` learns from per-user item sequences;
``score(histories) -> (n, n_items)`` scores every catalogue item for each given history
(a user is what they did: unknown users are an empty history); ``recommend`` ranks,
excluding seen and rule-blocked items. ``model.json`` adds the family's JSON state to the
common layout (``models/base.py``); its arrays go to ``weights.safetensors``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file
from scipy.sparse import csr_matrix

from tailorkit.errors import DataError, RegistryError
from tailorkit.evaluate.ranking import evaluate_scorer, per_case, seen_mask, top_k
from tailorkit.models.base import Model
from tailorkit.models.registry import MODEL_FILE

WEIGHTS_FILE = "weights.safetensors"


@dataclass
class TrainingSequences:
    """What recommenders learn from: item-code sequences per user, in time order."""

    sequences: list[np.ndarray]
    n_items: int
    times: list[np.ndarray] | None = None
    weights: list[np.ndarray] | None = None
    item_vectors: np.ndarray | None = None  # (n_items, d) text embeddings, 0 rows = no text

    def __post_init__(self) -> None:
        check_item_codes(self.sequences, self.n_items, "user")


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
        ranks, _ = evaluate_scorer(
            score, self.histories, self.targets, n_items, exclude_seen=self.exclude_seen
        )
        return per_case(ranks, "ndcg@10")


class Recommender(Model):
    """Base class: keyword-only parameters stored as given; fitted state ends in ``_``."""

    kind = "recommender"
    n_items_: int

    def fit(self, data: TrainingSequences, valid: Validation | None = None) -> Recommender:
        raise NotImplementedError

    def score(self, histories: list[np.ndarray]) -> np.ndarray:
        """(n, n_items) scores; an item code outside the catalogue is a ``DataError``."""
        check_item_codes(histories, self.n_items_, "history")
        return self._score(histories)

    def _score(self, histories: list[np.ndarray]) -> np.ndarray:
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

    def _save_document(self, path: Path) -> dict[str, Any]:
        arrays = {k: np.ascontiguousarray(v) for k, v in self._arrays().items()}
        save_file(arrays or {"_empty": np.zeros(1, np.float32)}, str(path / WEIGHTS_FILE))
        return {"state": {"n_items": int(self.n_items_), **self._state()}}

    def _load_document(self, document: dict[str, Any], path: Path) -> None:
        arrays = load_file(str(path / WEIGHTS_FILE))
        arrays.pop("_empty", None)
        state = document.get("state", {})
        self.n_items_ = int(state.get("n_items", 0))
        try:
            self._restore(arrays, state)
        except RegistryError as error:
            raise RegistryError(f"{path / MODEL_FILE}: {error}") from None


def check_item_codes(sequences: list[np.ndarray], n_items: int, what: str) -> None:
    """A ``DataError`` naming the first sequence that holds a code outside ``0..n_items-1``."""
    lengths = [len(s) for s in sequences]
    codes = np.concatenate(sequences) if sum(lengths) else np.zeros(0, np.int64)
    outside = (codes < 0) | (codes >= n_items)
    if outside.any():
        first = int(np.argmax(outside))
        number = int(np.searchsorted(np.cumsum(lengths), first, side="right"))
        raise DataError(
            f"{what} {number}: item code {codes[first]} is outside the catalogue of "
            f"{n_items} items (codes 0 to {n_items - 1})"
        )


def histories_matrix(histories: list[np.ndarray], n_items: int, weights=None):
    """Sparse (n × items) CSR with 1 (or the weight) for every history item."""
    lengths = [len(h) for h in histories]
    rows = np.repeat(np.arange(len(histories)), lengths)
    cols = np.concatenate(histories) if rows.size else np.zeros(0, np.int64)
    values = np.concatenate(weights) if weights is not None and rows.size else np.ones(len(rows))
    matrix = csr_matrix((values.astype(np.float32), (rows, cols)), shape=(len(histories), n_items))
    matrix.sum_duplicates()
    return matrix

"""ItemKNN: items are similar when the same users took them (cosine with shrinkage).

``sim(i, j) = |U_i ∩ U_j| / (sqrt(|U_i| |U_j|) + shrink)``, keeping each item's
``neighbours`` most similar items; a history scores item j by the summed similarity of its
items to j — all of them, or with ``recent = L`` its last L only (session-based kNN: what
a user did last says most about what comes next). Similarities are computed in item blocks
(sparse × dense), never a dense items × items matrix.
"""

from __future__ import annotations

import numpy as np

from tailorkit.models.recommender import (
    Recommender,
    TrainingSequences,
    Validation,
    histories_matrix,
)


class ItemKNN(Recommender):
    family = "item_knn"

    def __init__(
        self,
        *,
        neighbours: int = 100,
        shrink: float = 10.0,
        recent: int | None = None,
        block: int = 2048,
    ):
        self.neighbours = neighbours
        self.shrink = shrink
        self.recent = recent
        self.block = block

    def fit(self, data: TrainingSequences, valid: Validation | None = None) -> ItemKNN:
        from scipy.sparse import csr_matrix

        self.n_items_ = n = data.n_items
        X = histories_matrix(data.sequences, n)
        X.data[:] = 1.0
        XT = X.T.tocsr()
        norms = np.sqrt(np.asarray(X.sum(axis=0)).ravel())
        k = max(1, min(self.neighbours, n - 1)) if n > 1 else 1
        rows, cols, vals = [], [], []
        for start in range(0, n, self.block):
            stop = min(start + self.block, n)
            co = np.asarray((XT @ X[:, start:stop]).todense(), dtype=np.float32)  # n × b
            co /= norms[:, None] * norms[None, start:stop] + self.shrink + 1e-12
            co[np.arange(start, stop), np.arange(stop - start)] = 0.0  # no self-similarity
            top = np.argpartition(-co, k - 1, axis=0)[:k] if n > k else np.arange(n)[:, None]
            top = np.broadcast_to(top, (top.shape[0], stop - start)) if top.shape[1] == 1 else top
            values = np.take_along_axis(co, top, axis=0)
            keep = values > 0
            # similarity matrix S[i, j]: i = neighbour (history item), j = scored item
            rows.append(top[keep])
            cols.append(np.broadcast_to(np.arange(start, stop), top.shape)[keep])
            vals.append(values[keep])
        self.similarity_ = csr_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
        )
        return self

    def _score(self, histories: list[np.ndarray]) -> np.ndarray:
        if self.recent:
            histories = [np.asarray(h)[-self.recent :] for h in histories]
        H = histories_matrix(histories, self.n_items_)
        H.data[:] = 1.0
        return np.asarray((H @ self.similarity_).todense(), dtype=np.float32)

    def _arrays(self) -> dict[str, np.ndarray]:
        S = self.similarity_.tocoo()
        return {
            "rows": S.row.astype(np.int64),
            "cols": S.col.astype(np.int64),
            "values": S.data.astype(np.float32),
        }

    def _restore(self, arrays, state) -> None:
        from scipy.sparse import csr_matrix

        n = self.n_items_
        self.similarity_ = csr_matrix(
            (arrays["values"], (arrays["rows"], arrays["cols"])), shape=(n, n)
        )

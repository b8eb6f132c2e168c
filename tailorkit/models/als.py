"""Implicit-feedback matrix factorization by alternating least squares (Hu, Koren & Volinsky
2008): preference 1 for every interaction, confidence ``1 + alpha * weight``.

Both half-steps are exact batched solves (``torch.linalg.solve`` over users or items);
the per-row Gram matrices ``Y^T C_u Y`` come from one sparse product with the row-wise
outer products of the factors, so there is no Python loop over users. Only item factors
are kept: a history is scored by folding it in (the user half-step for that history), so
new and unknown users are scored exactly like training users. Iterations (``max_epochs``)
stop early when validation NDCG@10 stops improving.
"""

from __future__ import annotations

import numpy as np

from tailorkit.models.recommender import (
    Recommender,
    TrainingSequences,
    Validation,
    histories_matrix,
)
from tailorkit.progress import tracked


class ImplicitALS(Recommender):
    family = "als"

    def __init__(
        self,
        *,
        factors: int = 64,
        regularization: float = 1.0,
        alpha: float = 10.0,
        max_epochs: int = 15,
        patience: int = 3,
        random_state: int = 0,
    ):
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.max_epochs = max_epochs
        self.patience = patience
        self.random_state = random_state

    def fit(self, data: TrainingSequences, valid: Validation | None = None) -> ImplicitALS:
        self.n_items_ = data.n_items
        X = histories_matrix(data.sequences, data.n_items, data.weights)
        rng = np.random.default_rng(self.random_state)
        Y = rng.normal(0, 0.01, size=(data.n_items, self.factors)).astype(np.float32)
        best, best_Y, waited = -1.0, Y, 0
        self.history_ = []
        for _ in tracked(range(self.max_epochs), "als: iterations"):
            U = self._solve(X, Y)
            Y = self._solve(X.T.tocsr(), U)
            self.item_factors_ = Y
            if valid is None or not len(valid.targets):
                best_Y = Y
                continue
            ndcg = valid.ndcg(self.score, self.n_items_)
            self.history_.append(ndcg)
            if ndcg > best:
                best, best_Y, waited = ndcg, Y.copy(), 0
            else:
                waited += 1
                if waited >= self.patience:
                    break
        self.item_factors_ = best_Y
        return self

    def _solve(self, X, Y: np.ndarray, chunk: int = 1024) -> np.ndarray:
        """Least-squares factors for every row of X given the other side's factors Y."""
        import torch

        f = Y.shape[1]
        YtY = Y.T @ Y
        outer = (Y[:, :, None] * Y[:, None, :]).reshape(len(Y), f * f)
        binary = X.copy()
        binary.data[:] = 1.0
        out = np.zeros((X.shape[0], f), dtype=np.float32)
        eye = self.regularization * np.eye(f, dtype=np.float32)
        for start in range(0, X.shape[0], chunk):
            rows = X[start : start + chunk]
            gram = (self.alpha * rows) @ outer  # Σ_i alpha w_ui y_i y_iᵀ
            A = YtY + eye + np.asarray(gram, dtype=np.float32).reshape(-1, f, f)
            b = (binary[start : start + chunk] + self.alpha * rows) @ Y  # Σ_i c_ui y_i
            out[start : start + chunk] = torch.linalg.solve(
                torch.from_numpy(A), torch.from_numpy(np.asarray(b, dtype=np.float32))
            ).numpy()
        return out

    def _score(self, histories: list[np.ndarray]) -> np.ndarray:
        U = self._solve(histories_matrix(histories, self.n_items_), self.item_factors_)
        return U @ self.item_factors_.T

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"item_factors": self.item_factors_}

    def _restore(self, arrays, state) -> None:
        self.item_factors_ = arrays["item_factors"]

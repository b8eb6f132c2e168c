"""A GRU over a patient's sequence of visits (numeric measurements per visit, in time order).

Cho et al. (2014) gated recurrent unit, in the spirit of Doctor AI (Choi et al. 2016):
each visit's features are standardised (missing values set to the mean, with a 0/1
missing-indicator per feature), a one-layer GRU reads the visits in order and its final
state goes through a linear head. Rows with no visits get the learned "no history" output.
Early stopping on an inner stratified validation split by log loss.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn import functional as F

from tailorkit.errors import DataError
from tailorkit.models.cnn import pick_validation
from tailorkit.models.modality_base import ModalityModel
from tailorkit.models.torch_utils import torch_session
from tailorkit.progress import tracked

WEIGHTS_FILE = "weights.safetensors"


class VisitEncoder(nn.Module):
    """(n, T, k) visits + lengths -> (n, hidden) summaries; reused by the fusion model."""

    def __init__(self, n_features: int, hidden: int = 32):
        super().__init__()
        self.gru = nn.GRU(2 * n_features, hidden, batch_first=True)
        self.empty = nn.Parameter(torch.zeros(hidden))
        self.out_features = hidden

    def forward(self, visits: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = nn.utils.rnn.pack_padded_sequence(
            visits, lengths.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False
        )
        _, state = self.gru(packed)
        has_history = (lengths > 0).unsqueeze(1).to(visits.dtype)
        return state[-1] * has_history + self.empty * (1 - has_history)


def visit_statistics(visits: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and std over the real (non-padded, non-missing) visit values."""
    valid = np.arange(visits.shape[1])[None, :] < lengths[:, None]
    values = visits[valid]
    mean = np.nan_to_num(np.nanmean(values, axis=0)) if len(values) else np.zeros(visits.shape[2])
    std = np.nan_to_num(np.nanstd(values, axis=0)) if len(values) else np.ones(visits.shape[2])
    return mean.astype(np.float32), np.where(std > 1e-6, std, 1.0).astype(np.float32)


def visit_tensor(visits: np.ndarray, mean: np.ndarray, std: np.ndarray) -> torch.Tensor:
    """Standardised values with missing-indicator channels: (n, T, 2k)."""
    missing = np.isnan(visits)
    scaled = np.where(missing, 0.0, (visits - mean) / std).astype(np.float32)
    return torch.from_numpy(np.concatenate([scaled, missing.astype(np.float32)], axis=2))


class _Network(nn.Module):
    def __init__(self, n_features: int, hidden: int, n_classes: int):
        super().__init__()
        self.encoder = VisitEncoder(n_features, hidden)
        self.head = nn.Linear(hidden, n_classes)

    def forward(self, visits, lengths):
        return self.head(self.encoder(visits, lengths))


class VisitGRU(ModalityModel):
    """Classifier of visit sequences; ``fit(inputs, y)`` with ``inputs.visits`` and
    ``inputs.visit_lengths`` (a ``PatientInputs``)."""

    family = "visit_gru"
    modality = "visits"

    def __init__(
        self,
        *,
        hidden: int = 32,
        max_epochs: int = 60,
        batch_size: int = 64,
        learning_rate: float = 3e-3,
        weight_decay: float = 1e-4,
        validation_fraction: float = 0.15,
        patience: int = 8,
        random_state: int | None = 0,
        n_threads: int | None = None,
    ):
        self.hidden = hidden
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.random_state = random_state
        self.n_threads = n_threads

    def _arrays(self, inputs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        if getattr(inputs, "visits", None) is None:
            raise DataError("visit_gru needs visit sequences (the spec's visits section)")
        return (
            visit_tensor(inputs.visits, self.mean_, self.std_),
            torch.from_numpy(np.asarray(inputs.visit_lengths, dtype=np.int64)),
        )

    def _fit(self, inputs: Any, y: np.ndarray) -> None:
        if getattr(inputs, "visits", None) is None:
            raise DataError("visit_gru needs visit sequences (the spec's visits section)")
        seed = 0 if self.random_state is None else int(self.random_state)
        self.mean_, self.std_ = visit_statistics(inputs.visits, inputs.visit_lengths)
        self.n_features_ = int(inputs.visits.shape[2])
        visits, lengths = self._arrays(inputs)
        train, valid = pick_validation(len(y), y, self.validation_fraction, seed)
        labels = torch.from_numpy(y)
        with torch_session(seed, self.n_threads):
            self.network_ = _Network(self.n_features_, self.hidden, len(self.classes_))
            optimizer = torch.optim.AdamW(
                self.network_.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay
            )
            generator = torch.Generator().manual_seed(seed)
            best, best_state, waited = np.inf, None, 0
            for _epoch in tracked(range(self.max_epochs), "visit_gru: epochs"):
                self.network_.train()
                order = train[torch.randperm(len(train), generator=generator).numpy()]
                for start in range(0, len(order), self.batch_size):
                    rows = order[start : start + self.batch_size]
                    loss = F.cross_entropy(self.network_(visits[rows], lengths[rows]), labels[rows])
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                self.network_.eval()
                with torch.inference_mode():
                    loss = F.cross_entropy(
                        self.network_(visits[valid], lengths[valid]), labels[valid]
                    ).item()
                if loss < best - 1e-4:
                    best, waited = loss, 0
                    best_state = {k: v.clone() for k, v in self.network_.state_dict().items()}
                else:
                    waited += 1
                    if waited >= self.patience:
                        break
            if best_state is not None:
                self.network_.load_state_dict(best_state)
        self.network_.eval()

    def _predict_logits(self, inputs: Any) -> np.ndarray:
        visits, lengths = self._arrays(inputs)
        with torch_session(0, self.n_threads), torch.inference_mode():
            return self.network_(visits, lengths).numpy()

    def _save(self, path: Path) -> dict[str, Any]:
        state = {k: v.detach().contiguous() for k, v in self.network_.state_dict().items()}
        save_file(state, str(path / WEIGHTS_FILE))
        return {"mean": self.mean_.tolist(), "std": self.std_.tolist(), "n": self.n_features_}

    def _load(self, path: Path, state: dict[str, Any]) -> None:
        self.mean_ = np.asarray(state["mean"], dtype=np.float32)
        self.std_ = np.asarray(state["std"], dtype=np.float32)
        self.n_features_ = state["n"]
        self.network_ = _Network(self.n_features_, self.hidden, len(self.classes_))
        self.network_.load_state_dict(load_file(str(path / WEIGHTS_FILE)))
        self.network_.eval()

"""Distillation into a small MLP student, and the training loop pruning shares."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from tailorkit.compress.onnx_graph import export_onnx
from tailorkit.compress.split import CompressionData
from tailorkit.data.preprocess import TabularPreprocessor
from tailorkit.models.base import TabularModel
from tailorkit.models.compressed import CompressedModel
from tailorkit.models.quantiles import apply_quantiles, fit_quantiles


class StudentMLP(nn.Module):
    """The distilled student: categorical embeddings + numeric tokens into a 2-layer MLP."""

    def __init__(self, n_numeric: int, cardinalities: list[int], hidden: int = 64, embed: int = 4):
        super().__init__()
        self.cardinalities = list(cardinalities)
        self.embedding = nn.Embedding(max(1, sum(cardinalities)), embed)
        offsets = np.concatenate([[0], np.cumsum(cardinalities)[:-1]]) if cardinalities else []
        self.register_buffer("offsets", torch.as_tensor(offsets, dtype=torch.long))
        width = n_numeric + embed * len(cardinalities)
        self.layers = nn.Sequential(
            nn.Linear(width, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden // 2),
            nn.ReLU(),
            nn.Linear(hidden // 2, 1),
        )

    def forward(self, numeric: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor:
        parts = [numeric]
        if self.cardinalities:
            embedded = self.embedding(categorical + self.offsets[None])
            parts.append(embedded.reshape(embedded.shape[0], -1))
        return self.layers(torch.cat(parts, dim=1)).squeeze(-1)


def distill(
    teacher: TabularModel, data: CompressionData, *, seed: int = 0, epochs: int = 200
) -> CompressedModel:
    """A small MLP trained to match the teacher's probabilities (soft targets)."""
    rows = data.X_fit
    if data.X_unlabeled is not None and len(data.X_unlabeled):
        rows = pd.concat([rows, data.X_unlabeled[rows.columns]], ignore_index=True)
    soft = torch.as_tensor(teacher.predict_proba(rows)[:, 1], dtype=torch.float32)
    schema = {c: teacher.schema_.get(c, "categorical") for c in teacher.feature_names_in_}
    preprocessor = TabularPreprocessor(schema=schema, scale=True).fit(rows)
    scaled, _ = preprocessor.transform_numeric(rows)
    quantiles = fit_quantiles(scaled)
    numeric, categorical = preprocessor.transform(rows)
    numeric = torch.from_numpy(apply_quantiles(numeric, quantiles))
    categorical = torch.from_numpy(categorical)
    cardinalities = [len(preprocessor.levels_[c]) + 1 for c in preprocessor.categorical_columns_]
    torch.manual_seed(seed)
    student = StudentMLP(numeric.shape[1], cardinalities)
    train_bce(student, numeric, categorical, soft, seed=seed, epochs=epochs, lr=2e-3, patience=15)
    graph = export_onnx(student, numeric, categorical)
    return CompressedModel.from_graph(
        graph,
        method="distill",
        source=f"{getattr(teacher, 'family', 'model')}",
        preprocessor=preprocessor,
        quantiles=quantiles,
        schema=schema,
        importances=np.asarray(teacher.importances_, dtype=float),
    )


def train_bce(
    module: nn.Module,
    numeric: torch.Tensor,
    categorical: torch.Tensor,
    target: torch.Tensor,
    *,
    seed: int,
    epochs: int,
    lr: float,
    patience: int = 5,
    batch_size: int = 128,
    after_step: Callable[[], None] | None = None,
) -> None:
    """Mini-batch BCE training with early stopping on a 15% inner split (best weights kept)."""
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(target), generator=generator)
    n_valid = max(1, int(0.15 * len(target)))
    valid, train = order[:n_valid], order[n_valid:]
    optimizer = torch.optim.AdamW(module.parameters(), lr=lr, weight_decay=1e-5)
    best, best_state, since = math.inf, copy.deepcopy(module.state_dict()), 0
    for _ in range(epochs):
        module.train()
        shuffled = train[torch.randperm(len(train), generator=generator)]
        for start in range(0, len(shuffled), batch_size):
            index = shuffled[start : start + batch_size]
            loss = F.binary_cross_entropy_with_logits(
                module(numeric[index], categorical[index]), target[index]
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if after_step is not None:
                after_step()
        module.eval()
        with torch.no_grad():
            loss = float(
                F.binary_cross_entropy_with_logits(
                    module(numeric[valid], categorical[valid]), target[valid]
                )
            )
        if loss < best - 1e-6:
            best, best_state, since = loss, copy.deepcopy(module.state_dict()), 0
        else:
            since += 1
            if since >= patience:
                break
    module.load_state_dict(best_state)
    module.eval()

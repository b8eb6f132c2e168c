"""Late fusion of per-modality encoders (table, note, image, visits) with a learned head.

Each modality present in the project has its own encoder producing a ``d_embed`` vector:
an MLP over the preprocessed table; a projection of frozen MiniLM note embeddings; an
image trunk of ``cnn.py`` (the small ResNet of ``widths``, or ``backbone`` ``resnet18`` /
``resnet34``, its weights optionally loaded from ``pretrained_path`` before training as in
``ImageCNN``); the GRU of ``visit_gru.py`` for visits. The vectors are concatenated and an
MLP head predicts the class. A record missing a modality
(no image file, empty note, no visits) uses that modality's learned "missing" vector
instead, and modality dropout (Neverova et al. 2016, ModDrop) hides each present modality
of a training record with probability ``modality_dropout`` so the head learns to work
without it. Trained end to end with AdamW; early stopping on an inner stratified
validation split by log loss.

``explain`` gives per-record contributions (log-odds of the positive class): how much each
non-tabular modality moved the score against its "missing" vector, and each table column
against its training median / most frequent value (occlusion).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn import functional as F

from tailorkit.data.patients import as_image_batch
from tailorkit.data.preprocess import TabularPreprocessor
from tailorkit.data.schema import infer_schema
from tailorkit.errors import DataError
from tailorkit.models.cnn import (
    augment,
    image_trunk,
    load_trunk_weights,
    pick_validation,
)
from tailorkit.models.modality_base import ModalityModel
from tailorkit.models.text_classifier import cached_embeddings
from tailorkit.models.torch_utils import torch_session
from tailorkit.models.visit_gru import VisitEncoder, visit_statistics, visit_tensor
from tailorkit.progress import tracked

WEIGHTS_FILE = "weights.safetensors"
FUSION_WIDTHS = (16, 32, 64)  # the image trunk's stages (``widths=None``)


class _FusionNetwork(nn.Module):
    def __init__(self, dims: dict[str, int], config: dict[str, Any], n_classes: int):
        super().__init__()
        d, dropout = config["d_embed"], config["dropout"]
        encoders: dict[str, nn.Module] = {}
        if "tabular" in dims:
            encoders["tabular"] = nn.Sequential(
                nn.Linear(dims["tabular"], config["hidden"]),
                nn.ReLU(),
                nn.Dropout(dropout),
                nn.Linear(config["hidden"], d),
            )
        if "text" in dims:
            encoders["text"] = nn.Sequential(nn.Dropout(dropout), nn.Linear(dims["text"], d))
        if "image" in dims:
            trunk = image_trunk(config["backbone"], config["widths"])
            encoders["image"] = nn.Sequential(trunk, nn.Linear(trunk.out_features, d))
        if "visits" in dims:
            self.visit_encoder = VisitEncoder(dims["visits"], config["hidden"] // 2)
            encoders["visits"] = nn.Linear(self.visit_encoder.out_features, d)
        self.order = list(encoders)
        self.encoders = nn.ModuleDict(encoders)
        self.missing = nn.ParameterDict({m: nn.Parameter(torch.zeros(d)) for m in self.order})
        self.head = nn.Sequential(
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(d * len(self.order), config["hidden"]),
            nn.ReLU(),
            nn.Linear(config["hidden"], n_classes),
        )

    def encode(self, modality: str, value: Any) -> torch.Tensor:
        if modality == "visits":
            return self.encoders["visits"](self.visit_encoder(*value))
        return self.encoders[modality](value)

    def fuse(self, embedded: dict[str, torch.Tensor], present: dict[str, torch.Tensor]):
        parts = []
        for modality in self.order:
            mask = present[modality].unsqueeze(1).to(embedded[modality].dtype)
            parts.append(embedded[modality] * mask + self.missing[modality] * (1 - mask))
        return self.head(torch.cat(parts, dim=1))


class FusionClassifier(ModalityModel):
    """Multimodal classifier over ``PatientInputs``; robust to missing modalities."""

    family = "fusion"
    modality = "fusion"

    def __init__(
        self,
        *,
        encoder: str | None = None,
        text_max_length: int = 256,
        image_size: int = 28,
        widths: list[int] | None = None,
        d_embed: int = 32,
        hidden: int = 64,
        dropout: float = 0.2,
        modality_dropout: float = 0.25,
        backbone: str = "small",
        pretrained_path: str | None = None,
        augmentation: bool = True,
        max_epochs: int = 60,
        batch_size: int = 64,
        learning_rate: float = 2e-3,
        weight_decay: float = 1e-3,
        validation_fraction: float = 0.15,
        patience: int = 8,
        random_state: int | None = 0,
        n_threads: int | None = None,
    ):
        self.encoder = encoder
        self.text_max_length = text_max_length
        self.image_size = image_size
        self.widths = widths
        self.d_embed = d_embed
        self.hidden = hidden
        self.dropout = dropout
        self.modality_dropout = modality_dropout
        self.backbone = backbone
        self.pretrained_path = pretrained_path
        self.augmentation = augmentation
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.random_state = random_state
        self.n_threads = n_threads

    # ------------------------------------------------------------ features
    def _prepare(self, inputs: Any, y: np.ndarray | None = None) -> dict[str, Any]:
        """Tensors and presence masks per modality (fits normalisers when ``y`` is given)."""
        n = inputs.n_rows
        values: dict[str, Any] = {}
        present: dict[str, torch.Tensor] = {}
        if "tabular" in self.modalities_:
            matrix, _, _ = self.preprocessor_.to_matrix(inputs.tabular[self.columns_], y)
            values["tabular"] = torch.from_numpy(np.nan_to_num(matrix))
            present["tabular"] = torch.ones(n, dtype=torch.bool)
        if "text" in self.modalities_:
            notes = ["" if t is None else str(t) for t in (inputs.notes or [""] * n)]
            embedded = cached_embeddings(notes, self.encoder, self.text_max_length)
            values["text"] = torch.from_numpy(embedded)
            present["text"] = torch.tensor([bool(t.strip()) for t in notes])
        if "image" in self.modalities_:
            images = as_image_batch(inputs.images, self.image_size)
            mask = np.ones(n, bool) if inputs.image_present is None else inputs.image_present
            values["image"] = ((torch.from_numpy(images) - self.image_mean_) / self.image_std_)[
                :, None
            ]
            present["image"] = torch.from_numpy(np.asarray(mask, dtype=bool))
        if "visits" in self.modalities_:
            lengths = np.asarray(inputs.visit_lengths, dtype=np.int64)
            values["visits"] = (
                visit_tensor(inputs.visits, self.visit_mean_, self.visit_std_),
                torch.from_numpy(lengths),
            )
            present["visits"] = torch.from_numpy(lengths > 0)
        return {"values": values, "present": present}

    def _fit_normalisers(self, inputs: Any, y: np.ndarray) -> None:
        self.modalities_ = inputs.modalities()
        if not self.modalities_:
            raise DataError("fusion needs at least one modality")
        if "tabular" in self.modalities_:
            self.columns_ = list(inputs.tabular.columns)
            self.schema_ = infer_schema(inputs.tabular)
            self.preprocessor_ = TabularPreprocessor(schema=self.schema_).fit(inputs.tabular, y)
            self.reference_ = _reference_row(inputs.tabular, self.schema_)
        if "image" in self.modalities_:
            images = as_image_batch(inputs.images, self.image_size)
            mask = (
                np.ones(len(images), bool) if inputs.image_present is None else inputs.image_present
            )
            seen = images[mask] if mask.any() else images
            self.image_mean_, self.image_std_ = float(seen.mean()), float(seen.std() + 1e-6)
        if "visits" in self.modalities_:
            self.visit_mean_, self.visit_std_ = visit_statistics(
                inputs.visits, inputs.visit_lengths
            )

    def _dims(self, prepared: dict[str, Any]) -> dict[str, int]:
        dims = {}
        for modality, value in prepared["values"].items():
            if modality == "visits":
                dims[modality] = value[0].shape[2] // 2
            elif modality == "image":
                dims[modality] = 1
            else:
                dims[modality] = value.shape[1]
        return dims

    def _config(self) -> dict[str, Any]:
        return {
            "d_embed": self.d_embed,
            "hidden": self.hidden,
            "dropout": self.dropout,
            "widths": list(self.widths or FUSION_WIDTHS),
            "backbone": self.backbone,
        }

    # ------------------------------------------------------------ training
    def _fit(self, inputs: Any, y: np.ndarray) -> None:
        seed = 0 if self.random_state is None else int(self.random_state)
        with torch_session(seed, self.n_threads):
            self._fit_normalisers(inputs, y)
            prepared = self._prepare(inputs, y)
            self.dims_ = self._dims(prepared)
            self.network_ = _FusionNetwork(self.dims_, self._config(), len(self.classes_))
            if self.pretrained_path and "image" in self.dims_:
                self.pretrained_tensors_ = load_trunk_weights(
                    self.network_.encoders["image"][0], self.pretrained_path, self.backbone
                )
            self._train(prepared, y, seed)

    def _batch(self, prepared, rows, generator=None, train=False):
        embedded, present = {}, {}
        for modality in self.network_.order:
            value = prepared["values"][modality]
            value = (value[0][rows], value[1][rows]) if modality == "visits" else value[rows]
            if train and modality == "image" and self.augmentation:
                value = augment(value, 10.0, 0.08, generator)
            embedded[modality] = self.network_.encode(modality, value)
            present[modality] = prepared["present"][modality][rows]
        if train and self.modality_dropout > 0 and len(self.network_.order) > 1:
            present = _drop_modalities(present, self.modality_dropout, generator)
        return embedded, present

    def _train(self, prepared, y: np.ndarray, seed: int) -> None:
        train, valid = pick_validation(len(y), y, self.validation_fraction, seed)
        labels = torch.from_numpy(y)
        generator = torch.Generator().manual_seed(seed)
        optimizer = torch.optim.AdamW(
            self.network_.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay
        )
        best, best_state, waited = np.inf, None, 0
        self.epochs_ = 0
        for _epoch in tracked(range(self.max_epochs), "fusion: epochs"):
            self.network_.train()
            order = train[torch.randperm(len(train), generator=generator).numpy()]
            for start in range(0, len(order), self.batch_size):
                rows = order[start : start + self.batch_size]
                if len(rows) < 2:
                    continue
                embedded, present = self._batch(prepared, rows, generator, train=True)
                loss = F.cross_entropy(self.network_.fuse(embedded, present), labels[rows])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            self.epochs_ += 1
            loss = F.cross_entropy(torch.from_numpy(self._logits(prepared, valid)), labels[valid])
            if loss.item() < best - 1e-4:
                best, waited = loss.item(), 0
                best_state = {k: v.clone() for k, v in self.network_.state_dict().items()}
            else:
                waited += 1
                if waited >= self.patience:
                    break
        if best_state is not None:
            self.network_.load_state_dict(best_state)
        self.network_.eval()

    def _logits(self, prepared, rows=None, hide: str | None = None) -> np.ndarray:
        self.network_.eval()
        n = len(prepared["present"][self.network_.order[0]])
        rows = np.arange(n) if rows is None else rows
        out = []
        with torch.inference_mode():
            for start in range(0, len(rows), 512):
                part = rows[start : start + 512]
                embedded, present = self._batch(prepared, part)
                if hide:
                    present[hide] = torch.zeros_like(present[hide])
                out.append(self.network_.fuse(embedded, present).numpy())
        return np.concatenate(out) if out else np.zeros((0, len(self.classes_)))

    # ------------------------------------------------------------ inference
    def _predict_logits(self, inputs: Any) -> np.ndarray:
        with torch_session(0, self.n_threads):
            return self._logits(self._prepare(inputs))

    def explain(self, inputs: Any) -> pd.DataFrame:
        """Per-record contributions to the positive-class log-odds: non-tabular modalities
        by ablation (against their "missing" vector), table columns by occlusion."""
        with torch_session(0, self.n_threads):
            prepared = self._prepare(inputs)
            full = _positive_logit(self._logits(prepared))
            out = {}
            for modality in self.network_.order:
                if modality != "tabular":
                    hidden = _positive_logit(self._logits(prepared, hide=modality))
                    out[f"[{modality}]"] = full - hidden
            for column in self.columns_ if "tabular" in self.modalities_ else []:
                changed = inputs.tabular[self.columns_].copy()
                changed[column] = self.reference_[column]
                matrix, _, _ = self.preprocessor_.to_matrix(changed)
                prepared["values"]["tabular"] = torch.from_numpy(np.nan_to_num(matrix))
                out[column] = full - _positive_logit(self._logits(prepared))
        return pd.DataFrame(out, index=inputs.tabular.index)

    # ---------------------------------------------------------- persistence
    def _save(self, path: Path) -> dict[str, Any]:
        state = {k: v.detach().contiguous() for k, v in self.network_.state_dict().items()}
        save_file(state, str(path / WEIGHTS_FILE))
        document: dict[str, Any] = {"modalities": self.modalities_, "dims": self.dims_}
        if "tabular" in self.modalities_:
            document.update(
                columns=self.columns_,
                schema=self.schema_,
                preprocessor=self.preprocessor_.to_dict(),
                reference={k: _plain(v) for k, v in self.reference_.items()},
            )
        if "image" in self.modalities_:
            document.update(image_mean=self.image_mean_, image_std=self.image_std_)
        if "visits" in self.modalities_:
            document.update(
                visit_mean=self.visit_mean_.tolist(), visit_std=self.visit_std_.tolist()
            )
        return document

    def _load(self, path: Path, state: dict[str, Any]) -> None:
        self.modalities_, self.dims_ = state["modalities"], state["dims"]
        if "tabular" in self.modalities_:
            self.columns_, self.schema_ = state["columns"], state["schema"]
            self.preprocessor_ = TabularPreprocessor.from_dict(state["preprocessor"])
            self.reference_ = state["reference"]
        if "image" in self.modalities_:
            self.image_mean_, self.image_std_ = state["image_mean"], state["image_std"]
        if "visits" in self.modalities_:
            self.visit_mean_ = np.asarray(state["visit_mean"], dtype=np.float32)
            self.visit_std_ = np.asarray(state["visit_std"], dtype=np.float32)
        self.network_ = _FusionNetwork(self.dims_, self._config(), len(self.classes_))
        self.network_.load_state_dict(load_file(str(path / WEIGHTS_FILE)))
        self.network_.eval()


def _drop_modalities(present: dict[str, torch.Tensor], rate: float, generator) -> dict:
    """Hide each present modality with probability ``rate``; never hide all of a record's."""
    names = list(present)
    stacked = torch.stack([present[m] for m in names], dim=1)
    keep = torch.rand(stacked.shape, generator=generator) >= rate
    dropped = stacked & keep
    nothing_left = ~dropped.any(dim=1)
    dropped[nothing_left] = stacked[nothing_left]
    return {m: dropped[:, i] for i, m in enumerate(names)}


def _positive_logit(logits: np.ndarray) -> np.ndarray:
    return logits[:, -1] - logits[:, 0] if logits.shape[1] == 2 else logits.max(axis=1)


def _reference_row(frame: pd.DataFrame, schema: dict[str, str]) -> dict[str, Any]:
    """A neutral value per column: the median of numbers, the most frequent otherwise."""
    reference = {}
    for column in frame.columns:
        values = frame[column].dropna()
        if schema.get(column) == "numeric" and len(values):
            reference[column] = float(pd.to_numeric(values, errors="coerce").median())
        else:
            reference[column] = values.mode().iloc[0] if len(values) else None
    return reference


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value

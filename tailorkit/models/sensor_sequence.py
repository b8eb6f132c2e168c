"""The PyTorch base of the LSTM, 1-D CNN and transformer sensor-window families.

``SequenceRULModel`` takes an encoder from its subclass and adds: optional self-supervised
masked-segment pretraining on all windows (labeled and unlabeled), then multi-task
fine-tuning (squared error for the RUL point, pinball loss for the band's quantiles,
cross-entropy for the horizon). A frozen copy of the pretrained network scores anomalies as
masked reconstruction error, calibrated on healthy early-life windows. Weights are saved in
``weights.safetensors``.
"""

from __future__ import annotations

import copy
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from tailorkit.models.sensor_base import QUANTILES, WindowModel, check_windows, inner_split
from tailorkit.progress import tracked

WEIGHTS_FILE = "weights.safetensors"


def pinball(prediction, target, quantile: float):
    difference = target - prediction
    return (quantile * difference).clamp(min=0) + ((quantile - 1) * difference).clamp(min=0)


class SequenceRULModel(WindowModel):
    """PyTorch window model: encoder (subclass) + multi-task head + masked-segment pretraining.

    The head reads the encoder's last step and its mean over steps; with
    ``summary_features`` it also reads each sensor's window mean, std, slope and last value
    (a wide-and-deep head, Cheng et al. 2016), which steadies training on noisy sensors.

    Subclasses set ``family`` and implement ``_encoder(n_inputs) -> (module, width)``, where
    the module maps (batch, window, n_inputs) to (batch, window, width). The input carries one
    extra channel, 1 where a reading is masked (always 0 outside pretraining).
    """

    def _common_init(self, **params: Any) -> None:
        for name, value in params.items():
            setattr(self, name, value)

    def _encoder(self, n_inputs: int):
        raise NotImplementedError

    # ------------------------------------------------------------------- build
    def _build(self, n_features: int):
        import torch
        from torch import nn

        encoder, width = self._encoder(n_features + 1)
        wide = 4 * n_features if self.summary_features else 0
        return nn.ModuleDict(
            {
                "encoder": encoder,
                "head": nn.Sequential(
                    nn.Linear(2 * width + wide, 64),
                    nn.ReLU(),
                    nn.Dropout(self.dropout),
                    nn.Linear(64, 4),
                ),
                "decoder": nn.Linear(width, n_features),
            }
        ).to(torch.float32)

    @staticmethod
    def _encode(net, X, mask):
        import torch

        inputs = torch.cat([X * (1 - mask), mask], dim=2)
        return net["encoder"](inputs)

    def _head(self, net, X):
        import torch

        steps = self._encode(net, X, torch.zeros_like(X[:, :, :1]))
        parts = [steps[:, -1], steps.mean(dim=1)]
        if self.summary_features:
            parts.append(_summary_statistics(X))
        pooled = torch.cat(parts, dim=1)
        out = net["head"](pooled)
        point = out[:, 0]
        # the band hangs off a detached point so that its pinball losses do not pull the point
        anchor = point.detach()
        low = anchor - torch.nn.functional.softplus(out[:, 1])
        high = anchor + torch.nn.functional.softplus(out[:, 2])
        return point, low, high, out[:, 3]

    # --------------------------------------------------------------------- fit
    def _fit(self, X, rul, failure, groups, X_unlabeled) -> None:
        import torch

        torch.set_num_threads(max(1, self.n_threads))
        torch.manual_seed(self.random_state)
        self.scale_ = float(np.nanmax(rul)) or 1.0
        net = self._build(X.shape[2])
        pool = X if X_unlabeled is None else np.concatenate([X, check_windows(X_unlabeled)])
        self.pretrain_seconds_ = 0.0
        self.anomaly_net_ = None
        if self.pretrain and self.pretrain_epochs > 0:
            started = time.perf_counter()
            self._pretrain(net, pool)
            self.pretrain_seconds_ = time.perf_counter() - started
            self.anomaly_net_ = copy.deepcopy(net).eval()
            self._calibrate_anomaly(X, rul)
        self.net_ = net
        if self.max_epochs > 0:
            self._finetune(net, X, rul, failure, groups)
        self.net_.eval()

    def _pretrain(self, net, pool: np.ndarray) -> None:
        import torch

        rng = np.random.default_rng(self.random_state + 1)
        params = [p for k, p in net.named_parameters() if not k.startswith("head")]
        optimizer = torch.optim.AdamW(params, lr=self.learning_rate, weight_decay=1e-4)
        for _ in tracked(range(self.pretrain_epochs), f"{self.family}: pretraining epochs"):
            net.train()
            for batch in _batches(len(pool), self.batch_size, rng):
                X = torch.from_numpy(pool[batch])
                mask = torch.from_numpy(_segment_mask(len(batch), X.shape[1], rng, self))
                loss = self._reconstruction_loss(net, X, mask).mean()
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                optimizer.step()

    def _reconstruction_loss(self, net, X, mask):
        """Mean squared error on the masked readings, per window."""
        steps = self._encode(net, X, mask)
        error = ((net["decoder"](steps) - X) ** 2).mean(dim=2, keepdim=True) * mask
        return error.sum(dim=(1, 2)) / mask.sum(dim=(1, 2)).clamp(min=1.0)

    def _finetune(self, net, X, rul, failure, groups) -> None:
        import torch

        train, valid = inner_split(groups, self.validation_fraction, self.random_state)
        train = train[~np.isnan(rul[train])]
        valid = valid[~np.isnan(rul[valid])]
        optimizer = torch.optim.AdamW(
            net.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay
        )
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, self.max_epochs)
        rng = np.random.default_rng(self.random_state + 2)
        target = rul / self.scale_
        best = (math.inf, copy.deepcopy(net.state_dict()), 0)
        self.epochs_ = 0
        for epoch in tracked(range(self.max_epochs), f"{self.family}: epochs"):
            net.train()
            for batch in _batches(len(train), self.batch_size, rng):
                rows = train[batch]
                loss = self._supervised_loss(net, X[rows], target[rows], failure[rows])
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
                optimizer.step()
            schedule.step()
            self.epochs_ = epoch + 1
            if len(valid):
                score = self._validation_rmse(net, X[valid], target[valid])
                if score < best[0]:
                    best = (score, copy.deepcopy(net.state_dict()), epoch + 1)
                elif epoch + 1 - best[2] >= self.patience:
                    break
        if len(valid):
            net.load_state_dict(best[1])
            self.best_epoch_ = best[2]
            self.validation_rmse_ = float(best[0] * self.scale_)
        else:
            self.best_epoch_ = self.epochs_

    def _supervised_loss(self, net, X, target, failure):
        import torch
        import torch.nn.functional as F

        X, target = torch.from_numpy(X), torch.from_numpy(target)
        point, low, high, logit = self._head(net, X)
        loss = F.mse_loss(point, target)
        band = pinball(low, target, QUANTILES[0]) + pinball(high, target, QUANTILES[1])
        loss = loss + self.band_weight * band.mean()
        known = ~np.isnan(failure)
        if known.any() and self.failure_weight > 0:
            labels = torch.from_numpy(np.nan_to_num(failure))
            weight = torch.from_numpy(known.astype(np.float32))
            bce = F.binary_cross_entropy_with_logits(logit, labels, weight=weight, reduction="sum")
            loss = loss + self.failure_weight * bce / weight.sum()
        return loss

    def _validation_rmse(self, net, X, target) -> float:
        import torch

        net.eval()
        with torch.no_grad():
            point = np.concatenate(
                [self._head(net, torch.from_numpy(X[b]))[0].numpy() for b in _chunks(len(X), 2048)]
            )
        return float(np.sqrt(np.mean((np.clip(point, 0, 1) - target) ** 2)))

    # ------------------------------------------------------------------ anomaly
    @property
    def has_anomaly_head(self) -> bool:
        return getattr(self, "anomaly_net_", None) is not None

    def anomaly_error(self, X: np.ndarray) -> np.ndarray:
        import torch

        if not self.has_anomaly_head:
            raise NotImplementedError(f"{self.family} was trained without pretraining")
        X = check_windows(X, self.n_features_)
        errors = []
        with torch.no_grad():
            for batch in _chunks(len(X), 2048):
                windows = torch.from_numpy(X[batch])
                total = torch.zeros(len(batch))
                for phase in (0, 1):
                    mask = torch.from_numpy(_alternating_mask(len(batch), X.shape[1], phase, self))
                    total += self._reconstruction_loss(self.anomaly_net_, windows, mask) / 2
                errors.append(total.numpy())
        return np.concatenate(errors)

    def _calibrate_anomaly(self, X: np.ndarray, rul: np.ndarray) -> None:
        """Healthy = windows at the RUL cap (early life); without labels, every window."""
        healthy = X[rul >= np.nanmax(rul) - 1e-6] if np.isfinite(rul).any() else X
        if len(healthy) < 20:
            healthy = X
        sample = np.random.default_rng(self.random_state).permutation(len(healthy))[:4000]
        errors = self.anomaly_error(healthy[sample])
        self.healthy_median_ = float(np.median(errors))
        self.healthy_q99_ = float(np.quantile(errors, 0.99))

    # --------------------------------------------------------------- predict
    def _predict(self, X: np.ndarray) -> dict[str, np.ndarray]:
        import torch

        parts: list[list[np.ndarray]] = [[], [], [], []]
        with torch.no_grad():
            for batch in _chunks(len(X), 2048):
                for store, value in zip(
                    parts, self._head(self.net_, torch.from_numpy(X[batch])), strict=False
                ):
                    store.append(value.numpy())
        point, low, high, logit = (np.concatenate(p).astype(float) for p in parts)
        scale = self.scale_
        return {
            "rul": np.clip(point * scale, 0, None),
            "rul_low": np.clip(np.minimum(low, point) * scale, 0, None),
            "rul_high": np.clip(np.maximum(high, point) * scale, 0, None),
            "failure_probability": 1.0 / (1.0 + np.exp(-logit)),
        }

    # ----------------------------------------------------------- persistence
    def _save_state(self, path: Path) -> dict[str, Any]:
        from safetensors.torch import save_file

        tensors = {f"net.{k}": v.contiguous() for k, v in self.net_.state_dict().items()}
        if self.has_anomaly_head:
            tensors.update(
                {f"anomaly.{k}": v.contiguous() for k, v in self.anomaly_net_.state_dict().items()}
            )
        save_file(tensors, str(path / WEIGHTS_FILE))
        state = {
            "scale": self.scale_,
            "anomaly": self.has_anomaly_head,
            "pretrain_seconds": self.pretrain_seconds_,
            "best_epoch": getattr(self, "best_epoch_", None),
        }
        if self.has_anomaly_head:
            state["healthy_median"] = self.healthy_median_
            state["healthy_q99"] = self.healthy_q99_
        return state

    def _load_state(self, path: Path, state: dict[str, Any]) -> None:
        from safetensors.torch import load_file

        tensors = load_file(str(path / WEIGHTS_FILE))
        self.scale_ = state["scale"]
        self.pretrain_seconds_ = state["pretrain_seconds"]
        self.best_epoch_ = state.get("best_epoch")
        self.net_ = self._build(self.n_features_)
        self.net_.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("net.")})
        self.net_.eval()
        self.anomaly_net_ = None
        if state["anomaly"]:
            self.anomaly_net_ = self._build(self.n_features_)
            self.anomaly_net_.load_state_dict(
                {k[8:]: v for k, v in tensors.items() if k.startswith("anomaly.")}
            )
            self.anomaly_net_.eval()
            self.healthy_median_ = state["healthy_median"]
            self.healthy_q99_ = state["healthy_q99"]


def _summary_statistics(X):
    """Per sensor: the window's mean, std, least-squares slope and last value (the 'wide' part
    of the head; the same statistics the LightGBM baseline uses)."""
    import torch

    steps = torch.arange(X.shape[1], dtype=X.dtype, device=X.device)
    centered = steps - steps.mean()
    slope = torch.einsum("t,btf->bf", centered, X) / (centered**2).sum().clamp(min=1e-9)
    return torch.cat([X.mean(dim=1), X.std(dim=1, unbiased=False), slope, X[:, -1]], dim=1)


def _batches(n: int, size: int, rng: np.random.Generator):
    order = rng.permutation(n)
    for start in range(0, n, size):
        yield order[start : start + size]


def _chunks(n: int, size: int):
    for start in range(0, n, size):
        yield np.arange(start, min(n, start + size))


def _segment_mask(n: int, window: int, rng: np.random.Generator, model) -> np.ndarray:
    """Random contiguous segments covering about ``mask_rate`` of each window's steps."""
    length = max(1, min(model.mask_segment, window))
    n_segments = max(1, int(round(window * model.mask_rate / length)))
    mask = np.zeros((n, window, 1), np.float32)
    starts = rng.integers(0, window - length + 1, (n, n_segments))
    for offset in range(length):
        np.put_along_axis(mask[:, :, 0], starts + offset, 1.0, axis=1)
    return mask


def _alternating_mask(n: int, window: int, phase: int, model) -> np.ndarray:
    """Deterministic masks: every other segment (phase 0 or 1), so both cover the window."""
    length = max(1, min(model.mask_segment, window))
    steps = (np.arange(window) // length) % 2 == phase
    return np.broadcast_to(steps[None, :, None], (n, window, 1)).astype(np.float32)

"""One row of the trade-off table per variant: quality and agreement on the check rows, size,
single-row latency (preprocessing included) and model-only latency, p50/p99."""

from __future__ import annotations

import copy
import math
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from tailorkit.compress.split import CompressionData
from tailorkit.models.base import TabularModel
from tailorkit.models.compressed import CompressedModel

LATENCY_CALLS = 200


@dataclass
class Variant:
    """One row of the trade-off table."""

    name: str
    description: str
    size_bytes: int
    auc: float
    quality_delta: float
    mean_abs_diff: float
    decision_agreement: float
    p50_ms: float
    p99_ms: float
    model_p50_ms: float
    model_p99_ms: float
    servable: bool
    model: TabularModel | None = field(default=None, repr=False)
    passed: bool = False
    notes: str = ""

    def row(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "model"}


class Measure:
    """Measures variants against the original's scores on ``data.X_check``."""

    def __init__(self, data: CompressionData, reference, reference_auc, threshold) -> None:
        self.data = data
        self.reference = reference
        self.reference_auc = reference_auc
        self.threshold = threshold

    def variant(self, name, description, model, size, *, servable=True) -> Variant:
        scores = model.predict_proba(self.data.X_check)[:, 1]
        return self._variant(
            name,
            description,
            model,
            size,
            scores,
            lambda row: model.predict_proba(row),
            _model_call(model, self.data.X_check.iloc[:1]),
            servable,
        )

    def torch_int8(self, teacher, network, numeric, categorical) -> Variant:
        """PyTorch dynamic int8 of the network, measured in-process (not servable)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantized = torch.ao.quantization.quantize_dynamic(
                copy.deepcopy(network), {nn.Linear}, dtype=torch.qint8
            )
        with torch.no_grad():
            scores = torch.sigmoid(quantized(numeric, categorical)).double().numpy()

        def row_call(row: pd.DataFrame):
            n, c = teacher._encode(row)
            with torch.no_grad():
                return quantized(n, c)

        one = (numeric[:1], categorical[:1])

        def model_call():
            with torch.no_grad():
                quantized(*one)

        size = state_size(quantized)
        variant = self._variant(
            "torch-int8",
            "PyTorch dynamic int8 (quantize_dynamic on nn.Linear)",
            None,
            size,
            scores,
            row_call,
            model_call,
            servable=False,
        )
        variant.notes = (
            "measured in-process; the fused query/key/value projection (a raw parameter, "
            "not an nn.Linear) stays fp32; the servable int8 form is the ONNX one"
        )
        return variant

    def _variant(
        self, name, description, model, size, scores, row_call, model_call, servable
    ) -> Variant:
        auc = check_auc(self.data.y_check, scores)
        rows = [self.data.X_check.iloc[[i % len(self.data.X_check)]] for i in range(50)]
        p50, p99 = _latency(lambda i: row_call(rows[i % len(rows)]))
        m50, m99 = _latency(lambda i: model_call()) if model_call else (math.nan, math.nan)
        reference_decisions = self.reference > self.threshold
        return Variant(
            name=name,
            description=description,
            size_bytes=int(size),
            auc=auc,
            quality_delta=auc - self.reference_auc,
            mean_abs_diff=float(np.mean(np.abs(scores - self.reference))),
            decision_agreement=float(np.mean((scores > self.threshold) == reference_decisions)),
            p50_ms=p50,
            p99_ms=p99,
            model_p50_ms=m50,
            model_p99_ms=m99,
            servable=servable,
            model=model,
        )


def _model_call(model: TabularModel, row: pd.DataFrame) -> Callable[[], Any] | None:
    """One encoded row through the network alone (model-only latency), or None."""
    if isinstance(model, CompressedModel):
        encoded = model.encode(row)
        return lambda: model.logits(*encoded)
    if model.family == "ft_transformer":
        network, encoded = model.network_.eval(), model._encode(row)

        def call() -> None:
            with torch.no_grad():
                network(*encoded)

        return call
    return None


def _latency(call: Callable[[int], Any], n: int = LATENCY_CALLS) -> tuple[float, float]:
    for i in range(5):
        call(i)
    times = []
    for i in range(n):
        started = time.perf_counter()
        call(i)
        times.append((time.perf_counter() - started) * 1000)
    return float(np.percentile(times, 50)), float(np.percentile(times, 99))


def check_auc(y: np.ndarray, scores: np.ndarray) -> float:
    """AUC, or NaN when the rows hold one class only."""
    return float(roc_auc_score(y, scores)) if len(np.unique(y)) == 2 else float("nan")


def folder_size(model: TabularModel) -> int:
    """Bytes of the model's saved folder."""
    with tempfile.TemporaryDirectory() as folder:
        model.save(Path(folder) / "m")
        return sum(p.stat().st_size for p in (Path(folder) / "m").rglob("*") if p.is_file())


def state_size(module: nn.Module) -> int:
    """Bytes of a (possibly quantized) module's tensors, packed int8 weights included."""
    total = 0
    for value in module.state_dict().values():
        if isinstance(value, torch.Tensor):
            total += value.numel() * value.element_size()
        elif isinstance(value, tuple):
            total += sum(v.numel() * v.element_size() for v in value if hasattr(v, "numel"))
    for submodule in module.modules():
        packed = getattr(submodule, "_packed_params", None)
        if packed is not None and hasattr(packed, "_weight_bias"):
            weight, bias = packed._weight_bias()
            total += weight.numel() * weight.element_size()
            total += bias.numel() * bias.element_size() if bias is not None else 0
    return total

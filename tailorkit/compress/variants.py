"""Every compression method on one model, measured on the same rows, and the choice.

Variants:

- ``onnx``: the FT-Transformer exported to ONNX (fp32), run by onnxruntime;
- ``int8``: dynamic int8 quantization of the linear layers, both with PyTorch
  (``torch.ao.quantization.quantize_dynamic``, measured in-process) and with onnxruntime's
  dynamic quantization (the saved, servable form);
- ``prune``: global magnitude (L1) pruning of the linear weights, then fine-tuning;
- ``distill``: a small MLP student trained on the teacher's probabilities (any teacher).

Protocol: the project's labeled rows are split once (stratified, the spec's seed) into a
compression part (fine-tuning, distillation) and a 20% check part. Quality is AUC on the
check part; the delta is the variant's AUC minus the original's on those same rows. The
original model was refitted on all rows, so absolute AUCs there are optimistic; the deltas and
the agreement with the original are what this table is for. Latency is single-row
``predict_proba`` (preprocessing included) and model-only, p50/p99 over repeated calls.
``choose`` applies a maximum quality drop and a p99 latency limit.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from tailorkit.compress.distill import distill
from tailorkit.compress.measure import Measure, Variant, check_auc, folder_size
from tailorkit.compress.onnx_graph import GraphFT, export_onnx, quantize_onnx
from tailorkit.compress.prune import prune_and_finetune
from tailorkit.compress.split import CompressionData
from tailorkit.errors import TailorkitError
from tailorkit.models.base import TabularModel
from tailorkit.models.compressed import CompressedModel

METHODS = ("onnx", "int8", "prune", "distill")


def compress(
    teacher: TabularModel,
    data: CompressionData,
    *,
    source: str,
    methods: tuple[str, ...] = METHODS,
    threshold: float = 0.5,
    seed: int = 0,
    say: Callable[[str], None] = lambda message: None,
) -> list[Variant]:
    """The original plus one variant per method, all measured on ``data.X_check``."""
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise TailorkitError(f"unknown compression method(s) {unknown}; choose from {METHODS}")
    is_ft = teacher.family == "ft_transformer"
    needs_ft = [m for m in methods if m in ("onnx", "int8", "prune")]
    if needs_ft and not is_ft:
        raise TailorkitError(
            f"{', '.join(needs_ft)} need an ft_transformer model, and {source} is a "
            f"{teacher.family}; use --methods distill, or compress an ft_transformer version"
        )
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _compress(teacher, data, source, methods, threshold, seed, say)
    finally:
        torch.set_num_threads(previous_threads)


def choose(
    variants: list[Variant], max_quality_drop: float, p99_limit: float | None
) -> Variant | None:
    """Mark variants that meet the limits; the chosen one is the one whose model call is the
    fastest (model-only p50: what compression changes; the row latency around it is the same
    preprocessing for every variant, and its p99 mostly machine noise), then the smallest."""
    for variant in variants:
        variant.passed = (
            variant.servable
            and variant.quality_delta >= -max_quality_drop - 1e-12
            and (p99_limit is None or variant.p99_ms <= p99_limit)
        )
    passing = [v for v in variants if v.passed]
    if not passing:
        return None
    return min(passing, key=lambda v: (v.model_p50_ms, v.size_bytes))


def _compress(teacher, data, source, methods, threshold, seed, say) -> list[Variant]:
    reference = teacher.predict_proba(data.X_check)[:, 1]
    measure = Measure(data, reference, check_auc(data.y_check, reference), threshold)
    variants = [
        measure.variant("original", f"{teacher.family} as trained", teacher, folder_size(teacher))
    ]
    if teacher.family == "ft_transformer":
        variants += _ft_variants(teacher, data, measure, source, methods, seed, say)
    if "distill" in methods:
        say("distilling into a small MLP")
        student = distill(teacher, data, seed=seed)
        variants.append(
            measure.variant(
                "distill",
                "MLP student (64-32) on the teacher's probabilities, ONNX",
                student,
                folder_size(student),
            )
        )
    return variants


def _ft_variants(teacher, data, measure, source, methods, seed, say) -> list[Variant]:
    """The FT-Transformer's ONNX, int8 (PyTorch and ONNX) and pruned variants, in that order."""
    variants = []
    numeric, categorical = teacher._encode(data.X_check)
    network = teacher.network_.eval()
    if "onnx" in methods or "int8" in methods:
        say("exporting to ONNX")
        graph = export_onnx(GraphFT(network), numeric, categorical)
        onnx_model = _compressed(teacher, graph, "onnx", source)
        if "onnx" in methods:
            variants.append(
                measure.variant(
                    "onnx", "ONNX fp32 (onnxruntime)", onnx_model, folder_size(onnx_model)
                )
            )
    if "int8" in methods:
        say("quantizing to int8")
        variants.append(measure.torch_int8(teacher, network, numeric, categorical))
        int8_model = _compressed(teacher, quantize_onnx(graph), "int8", source)
        variants.append(
            measure.variant(
                "int8", "ONNX dynamic int8 (onnxruntime)", int8_model, folder_size(int8_model)
            )
        )
    if "prune" in methods:
        say("pruning and fine-tuning")
        pruned, sparsity = prune_and_finetune(teacher, data, seed=seed)
        model = _compressed(
            teacher, export_onnx(GraphFT(pruned), numeric, categorical), "prune", source
        )
        variant = measure.variant(
            "prune",
            "50% magnitude-pruned weights, fine-tuned, ONNX",
            model,
            folder_size(model),
        )
        variant.notes = (
            f"{sparsity:.0%} of linear weights are zero; a dense ONNX file does not "
            "shrink (gzip or a sparse runtime would)"
        )
        variants.append(variant)
    return variants


def _compressed(teacher, graph: bytes, method: str, source: str) -> CompressedModel:
    return CompressedModel.from_graph(
        graph,
        method=method,
        source=source,
        preprocessor=teacher.preprocessor_,
        quantiles=teacher.quantiles_,
        schema=teacher.schema_,
        importances=teacher.importances_,
    )

"""``tailorkit compress``: smaller, faster variants of a registered model, with a trade-off table.

Variants (each measured on the same rows):

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
The spec's ``deploy.max_quality_drop`` and ``p99_latency_ms`` requirements pick the variant.
"""

from __future__ import annotations

import copy
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from torch import nn
from torch.nn import functional as F

from tailorkit.errors import TailorkitError
from tailorkit.models.base import TabularModel
from tailorkit.models.compressed import CompressedModel

METHODS = ("onnx", "int8", "prune", "distill")
CHECK_FRACTION = 0.2
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


# ----------------------------------------------------------------------------- ONNX export
class GraphFT(nn.Module):
    """FT-Transformer forward with shapes the ONNX tracer keeps dynamic (rows)."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, numeric: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor:
        members = getattr(self.network, "members", [self.network])  # a bag averages logits
        return torch.stack([_graph_logits(net, numeric, categorical) for net in members]).mean(0)


def _graph_logits(net: nn.Module, numeric: torch.Tensor, categorical: torch.Tensor):
    tokens = net.tokenize(numeric, categorical)
    x = torch.cat([net.cls.expand(tokens.shape[0], -1, -1), tokens], dim=1)
    for i, block in enumerate(net.blocks):
        x, _ = block(x, cls_only=i == len(net.blocks) - 1)  # the head reads [CLS] only
    return net.head(F.relu(net.head_norm(x[:, 0]))).squeeze(-1)


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


def export_onnx(module: nn.Module, numeric: torch.Tensor, categorical: torch.Tensor) -> bytes:
    """The module as an ONNX graph (inputs numeric, categorical; output logit; dynamic rows)."""
    import io
    import warnings

    buffer = io.BytesIO()
    module.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (numeric[:2], categorical[:2]),
            buffer,
            input_names=["numeric", "categorical"],
            output_names=["logit"],
            dynamic_axes={"numeric": {0: "rows"}, "categorical": {0: "rows"}, "logit": {0: "rows"}},
            opset_version=17,
            dynamo=False,
        )
    return buffer.getvalue()


def quantize_onnx(graph: bytes) -> bytes:
    """onnxruntime dynamic int8 quantization of the graph's weights."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.getLogger().setLevel(max(logging.getLogger().level, logging.ERROR))
    with tempfile.TemporaryDirectory() as folder:
        source, target = Path(folder) / "fp32.onnx", Path(folder) / "int8.onnx"
        source.write_bytes(graph)
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8)
        return target.read_bytes()


# ----------------------------------------------------------------------------- compression
@dataclass
class CompressionData:
    X_fit: pd.DataFrame
    y_fit: np.ndarray
    X_check: pd.DataFrame
    y_check: np.ndarray
    X_unlabeled: pd.DataFrame | None = None


def split_for_compression(
    X: pd.DataFrame, y: np.ndarray, seed: int, X_unlabeled: pd.DataFrame | None = None
) -> CompressionData:
    fit, check = train_test_split(
        np.arange(len(y)), test_size=CHECK_FRACTION, stratify=y, random_state=seed
    )
    return CompressionData(
        X.iloc[fit].reset_index(drop=True),
        y[fit],
        X.iloc[check].reset_index(drop=True),
        y[check],
        X_unlabeled,
    )


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


def _compress(teacher, data, source, methods, threshold, seed, say) -> list[Variant]:
    reference = teacher.predict_proba(data.X_check)[:, 1]
    reference_auc = _auc(data.y_check, reference)
    measure = _Measure(data, reference, reference_auc, threshold)
    variants = [
        measure.variant(
            "original",
            f"{teacher.family} as trained",
            teacher,
            _folder_size(teacher),
        )
    ]
    if teacher.family == "ft_transformer":
        numeric, categorical = teacher._encode(data.X_check)
        network = teacher.network_.eval()
        if "onnx" in methods or "int8" in methods:
            say("exporting to ONNX")
            graph = export_onnx(GraphFT(network), numeric, categorical)
            onnx_model = _compressed(teacher, graph, "onnx", source)
            if "onnx" in methods:
                variants.append(
                    measure.variant(
                        "onnx", "ONNX fp32 (onnxruntime)", onnx_model, _folder_size(onnx_model)
                    )
                )
        if "int8" in methods:
            say("quantizing to int8")
            variants.append(measure.torch_int8(teacher, network, numeric, categorical))
            int8_graph = quantize_onnx(graph)
            int8_model = _compressed(teacher, int8_graph, "int8", source)
            variants.append(
                measure.variant(
                    "int8", "ONNX dynamic int8 (onnxruntime)", int8_model, _folder_size(int8_model)
                )
            )
        if "prune" in methods:
            say("pruning and fine-tuning")
            pruned, sparsity = prune_and_finetune(teacher, data, seed=seed)
            graph = export_onnx(GraphFT(pruned), numeric, categorical)
            model = _compressed(teacher, graph, "prune", source)
            variant = measure.variant(
                "prune",
                "50% magnitude-pruned weights, fine-tuned, ONNX",
                model,
                _folder_size(model),
            )
            variant.notes = (
                f"{sparsity:.0%} of linear weights are zero; a dense ONNX file does not "
                "shrink (gzip or a sparse runtime would)"
            )
            variants.append(variant)
    if "distill" in methods:
        say("distilling into a small MLP")
        student = distill(teacher, data, seed=seed)
        variants.append(
            measure.variant(
                "distill",
                "MLP student (64-32) on the teacher's probabilities, ONNX",
                student,
                _folder_size(student),
            )
        )
    return variants


def choose(variants: list[Variant], max_quality_drop: float, p99_limit: float | None) -> Variant:
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


# ----------------------------------------------------------------------------- methods
def prune_and_finetune(
    teacher: TabularModel,
    data: CompressionData,
    *,
    amount: float = 0.5,
    seed: int = 0,
    epochs: int = 10,
) -> tuple[nn.Module, float]:
    """Global magnitude pruning of every linear / attention projection weight (the smallest
    ``amount`` share set to zero), then fine-tuning with the labels under the fixed mask."""
    network = copy.deepcopy(teacher.network_)
    weights = [m.weight for m in network.modules() if isinstance(m, nn.Linear)]
    weights += [m.in_proj_weight for m in network.modules() if hasattr(m, "in_proj_weight")]
    magnitudes = torch.cat([w.detach().abs().flatten() for w in weights])
    cutoff = torch.kthvalue(magnitudes, max(1, int(amount * len(magnitudes)))).values
    masks = [(w.detach().abs() > cutoff).float() for w in weights]

    def apply_masks() -> None:
        with torch.no_grad():
            for weight, mask in zip(weights, masks, strict=True):
                weight.mul_(mask)

    apply_masks()
    numeric, categorical = teacher._encode(data.X_fit)
    target = torch.as_tensor(data.y_fit, dtype=torch.float32)
    _train(
        network,
        numeric,
        categorical,
        target,
        seed=seed,
        epochs=epochs,
        lr=1e-4,
        after_step=apply_masks,
    )
    zeros = sum(int((w == 0).sum()) for w in weights)
    return network.eval(), zeros / max(1, sum(w.numel() for w in weights))


def distill(
    teacher: TabularModel, data: CompressionData, *, seed: int = 0, epochs: int = 200
) -> CompressedModel:
    """A small MLP trained to match the teacher's probabilities (soft targets)."""
    from tailorkit.data.preprocess import TabularPreprocessor
    from tailorkit.models.ft_transformer import apply_quantiles, fit_quantiles

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
    _train(student, numeric, categorical, soft, seed=seed, epochs=epochs, lr=2e-3, patience=15)
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


def _train(
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


# ----------------------------------------------------------------------------- measuring
class _Measure:
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
        import warnings

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

        size = _state_size(quantized)
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
        auc = _auc(self.data.y_check, scores)
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


def _auc(y: np.ndarray, scores: np.ndarray) -> float:
    return float(roc_auc_score(y, scores)) if len(np.unique(y)) == 2 else float("nan")


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


def _folder_size(model: TabularModel) -> int:
    with tempfile.TemporaryDirectory() as folder:
        model.save(Path(folder) / "m")
        return sum(p.stat().st_size for p in (Path(folder) / "m").rglob("*") if p.is_file())


def _state_size(module: nn.Module) -> int:
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


# ----------------------------------------------------------------------------- the command
TABLE_COLUMNS = [
    "name",
    "description",
    "size_bytes",
    "auc",
    "quality_delta",
    "decision_agreement",
    "p50_ms",
    "p99_ms",
    "model_p50_ms",
    "model_p99_ms",
    "passed",
]


def compress_registered(
    registry,
    ref: str,
    spec_path: Path,
    *,
    methods: tuple[str, ...] | None = None,
    alias: str | None = None,
    register: bool = True,
    say: Callable[[str], None] = lambda message: None,
) -> dict[str, Any]:
    """Compress a registered version with its project's data; report, gates, registration.
    ``methods`` default: what the spec's ``deploy.compress`` / ``deploy.export`` name, or
    every method when both are ``none``."""
    import json

    from tailorkit.data.dataset import load_training_data
    from tailorkit.gates import parse_requirement
    from tailorkit.models import load_model
    from tailorkit.predict import DECISION_FILE
    from tailorkit.spec import load_spec

    version = registry.resolve(ref)
    spec, _ = load_spec(spec_path)
    if spec.name != version.project:
        raise TailorkitError(
            f"{spec_path} is the spec of '{spec.name}', not of '{version.project}'; pass --spec"
        )
    if methods is None:
        deploy = spec.deploy
        named = ("onnx",) * (deploy.export == "onnx") + ("int8",) * (deploy.compress == "int8")
        methods = named or METHODS
    decision = json.loads((version.path / DECISION_FILE).read_text())
    say("reading data")
    training = load_training_data(spec, Path(spec_path).resolve().parent)
    columns = decision["columns"]
    unlabeled = training.X_unlabeled
    data = split_for_compression(
        training.X[columns],
        np.asarray(training.y),
        spec.evaluation.seed,
        unlabeled[columns] if unlabeled is not None and len(unlabeled) else None,
    )
    teacher = load_model(version.path)
    source = f"{version.project}:{version.version}"
    variants = compress(
        teacher,
        data,
        source=source,
        methods=methods,
        threshold=float(decision["threshold"]),
        seed=spec.evaluation.seed,
        say=say,
    )
    latency_lines = [r for r in spec.requirements if r.strip().startswith("p99_latency_ms")]
    p99_limit = None
    for line in latency_lines:
        requirement = parse_requirement(line)
        p99_limit = requirement.threshold
    chosen = choose(variants, spec.deploy.max_quality_drop, p99_limit)
    registered = None
    if chosen is not None and chosen.name != "original" and register:
        with tempfile.TemporaryDirectory() as folder:
            target = chosen.model.save(Path(folder) / "model")
            (target / DECISION_FILE).write_text(json.dumps(decision, indent=1))
            metrics = {
                "auc_check": chosen.auc,
                "quality_delta": chosen.quality_delta,
                "p99_latency_ms": chosen.p99_ms,
            }
            new = registry.register_model(
                version.project, target, family="compressed", metrics=metrics
            )
        registered = f"{new.project}:{new.version}"
        if alias:
            registry.set_alias(
                version.project, alias, new.version, reason=f"compressed {source} ({chosen.name})"
            )
    document = {
        "source": source,
        "protocol": (
            f"{len(data.y_fit)} rows for fine-tuning/distillation, {len(data.y_check)} check "
            f"rows (stratified {CHECK_FRACTION:.0%} split, seed {spec.evaluation.seed}); the "
            "original was trained on all rows, so absolute AUCs are optimistic and the deltas "
            f"and agreement are the point; latency: single-row calls, {LATENCY_CALLS} each"
        ),
        "max_quality_drop": spec.deploy.max_quality_drop,
        "p99_latency_ms_limit": p99_limit,
        "variants": [_plain_row(v) for v in variants],
        "chosen": chosen.name if chosen else None,
        "registered": registered,
        "alias": alias if registered else None,
    }
    report_dir = registry.workspace / "reports" / version.project / f"compress-{version.version}"
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "compress.json").write_text(json.dumps(document, indent=1))
    (report_dir / "compress.html").write_text(_html(document))
    document["report"] = str(report_dir / "compress.html")
    return document


def _plain_row(variant: Variant) -> dict[str, Any]:
    return {
        k: (None if isinstance(v, float) and not math.isfinite(v) else v)
        for k, v in variant.row().items()
    }


def _html(document: dict[str, Any]) -> str:
    from tailorkit.report.html import page, paragraph, section, table

    limits = (
        f"max quality drop {document['max_quality_drop']}; p99 latency limit "
        f"{document['p99_latency_ms_limit'] or 'none'} ms; chosen: {document['chosen'] or 'none'}"
        f"; registered as {document['registered'] or 'nothing'}"
    )
    return page(
        f"Compression of {document['source']}",
        [
            section(
                "Trade-off",
                table(document["variants"], TABLE_COLUMNS),
                paragraph(limits),
                paragraph(document["protocol"], note=True),
            ),
            section(
                "Notes",
                *[
                    paragraph(f"{v['name']}: {v['notes']}", note=True)
                    for v in document["variants"]
                    if v.get("notes")
                ],
            ),
        ],
    )

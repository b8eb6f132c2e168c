"""``tailorkit compress`` and ``tailorkit export --edge`` for a registered credit-risk version.

Loads the version's project spec and training data, runs the methods of
``tailorkit.compress``, applies the spec's ``deploy.max_quality_drop`` and
``p99_latency_ms`` requirement, registers the chosen variant and writes
``compress.json`` / ``compress.html``.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tailorkit.compress.edge import write_bundle
from tailorkit.compress.measure import LATENCY_CALLS, Variant
from tailorkit.compress.split import CHECK_FRACTION, CompressionData, split_for_compression
from tailorkit.compress.variants import METHODS, choose, compress
from tailorkit.data.dataset import load_training_data
from tailorkit.gates import parse_requirement
from tailorkit.models import load_model
from tailorkit.registry import ModelVersion, Registry
from tailorkit.report.compression_report import render
from tailorkit.solutions.credit_risk.predict import DECISION_FILE


def compress_registered(
    registry: Registry,
    version: ModelVersion,
    spec: Any,
    base_dir: Path,
    *,
    methods: tuple[str, ...] | None = None,
    alias: str | None = None,
    register: bool = True,
    say: Callable[[str], None] = lambda message: None,
) -> dict[str, Any]:
    """Compress a registered version with its project's data (``spec``, whose folder is
    ``base_dir``); report, gates, registration. ``methods`` default: what the spec's
    ``deploy.compress`` / ``deploy.export`` name, or every method when both are ``none``."""
    if methods is None:
        deploy = spec.deploy
        named = ("onnx",) * (deploy.export == "onnx") + ("int8",) * (deploy.compress == "int8")
        methods = named or METHODS
    decision = json.loads((version.path / DECISION_FILE).read_text())
    say("reading data")
    data = _compression_data(spec, base_dir, decision["columns"])
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
    p99_limit = _p99_limit(spec.requirements)
    chosen = choose(variants, spec.deploy.max_quality_drop, p99_limit)
    registered = None
    if chosen is not None and chosen.name != "original" and register:
        registered = _register(registry, version, chosen, decision, alias, source)
    document = {
        "source": source,
        "protocol": _protocol(data, spec.evaluation.seed),
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
    (report_dir / "compress.html").write_text(render(document))
    document["report"] = str(report_dir / "compress.html")
    return document


def export_edge(version, folder: Path) -> Path:
    """Write the edge bundle of a registered version into ``folder`` (created; must be empty)."""
    model = load_model(version.path)
    decision = json.loads((version.path / DECISION_FILE).read_text())
    return write_bundle(model, decision, folder, name=f"{version.project}:{version.version}")


def _compression_data(spec, base_dir: Path, columns: list[str]) -> CompressionData:
    training = load_training_data(spec, base_dir)
    unlabeled = training.X_unlabeled
    return split_for_compression(
        training.X[columns],
        np.asarray(training.y),
        spec.evaluation.seed,
        unlabeled[columns] if unlabeled is not None and len(unlabeled) else None,
    )


def _p99_limit(requirements: list[str]) -> float | None:
    """The threshold of the last ``p99_latency_ms`` requirement line, or None."""
    p99_limit = None
    for line in requirements:
        if line.strip().startswith("p99_latency_ms"):
            p99_limit = parse_requirement(line).threshold
    return p99_limit


def _register(registry, version, chosen: Variant, decision, alias, source: str) -> str:
    with tempfile.TemporaryDirectory() as folder:
        target = chosen.model.save(Path(folder) / "model")
        (target / DECISION_FILE).write_text(json.dumps(decision, indent=1))
        metrics = {
            "auc_check": chosen.auc,
            "quality_delta": chosen.quality_delta,
            "p99_latency_ms": chosen.p99_ms,
        }
        new = registry.register_model(version.project, target, family="compressed", metrics=metrics)
    if alias:
        registry.set_alias(
            version.project, alias, new.version, reason=f"compressed {source} ({chosen.name})"
        )
    return f"{new.project}:{new.version}"


def _protocol(data: CompressionData, seed: int) -> str:
    return (
        f"{len(data.y_fit)} rows for fine-tuning/distillation, {len(data.y_check)} check "
        f"rows (stratified {CHECK_FRACTION:.0%} split, seed {seed}); the "
        "original was trained on all rows, so absolute AUCs are optimistic and the deltas "
        f"and agreement are the point; latency: single-row calls, {LATENCY_CALLS} each"
    )


def _plain_row(variant: Variant) -> dict[str, Any]:
    return {
        k: (None if isinstance(v, float) and not math.isfinite(v) else v)
        for k, v in variant.row().items()
    }

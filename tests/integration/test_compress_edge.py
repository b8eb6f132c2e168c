"""Compression (ONNX, int8, pruning, distillation, gates) and the edge bundle, which must
answer like the service to 1e-5 with only numpy and onnxruntime."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
import yaml

from tailorkit import get_solution, load_spec
from tailorkit.compress.measure import Variant
from tailorkit.compress.prune import prune_and_finetune
from tailorkit.compress.split import split_for_compression
from tailorkit.compress.variants import choose, compress
from tailorkit.data.simulators.applicants import simulate_applicants
from tailorkit.errors import GateFailed, TailorkitError
from tailorkit.models import load_model, make_model
from tailorkit.registry import Registry
from tailorkit.serve.app import ServiceSettings, create_app
from tailorkit.serve.events import EventStore
from tailorkit.solutions.credit_risk.compression import export_edge
from tailorkit.solutions.credit_risk.predict import DECISION_FILE
from tests.conftest import tk
from tests.serving_helpers import (
    FEATURES,
    TINY_PARAMS,
    ThreadServer,
    applicants,
    fit_credit_model,
    register_folder,
)

PICKLE_SUFFIXES = {".pkl", ".pickle", ".joblib", ".pt", ".pth"}


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> dict:
    """A spec + data folder with a tiny FT-Transformer registered as the champion."""
    root = tmp_path_factory.mktemp("compress")
    simulate_applicants(500, random_state=1).to_csv(root / "applications.csv", index=False)
    spec = {
        "name": "acme-credit",
        "solution": "credit_risk",
        "data": {"train": "applications.csv", "key": "application_id"},
        "target": "default",
        "features": {"protected": ["sex"]},
        "deploy": {"max_quality_drop": 0.05},
    }
    (root / "tailorkit.yaml").write_text(yaml.safe_dump(spec))
    model = fit_credit_model(root / "ft", "ft_transformer")
    workspace = root / ".tailorkit"
    register_folder(workspace, "acme-credit", model, "champion")
    return {"root": root, "workspace": workspace, "spec": root / "tailorkit.yaml"}


@pytest.fixture(scope="module")
def compressed(project, tmp_path_factory) -> None:
    """The ``compressed`` alias: the compress CLI test's choice or, when that test has not
    run, the champion's ONNX variant registered as ``compress_registered`` would."""
    registry = Registry(project["workspace"])
    if "compressed" in registry.aliases("acme-credit"):
        return
    champion = registry.resolve("acme-credit@champion")
    frame = simulate_applicants(300, random_state=2)
    data = split_for_compression(frame[FEATURES], frame["default"].to_numpy(), 0)
    variants = compress(load_model(champion.path), data, source="acme-credit", methods=("onnx",))
    onnx = next(v for v in variants if v.name == "onnx")
    folder = onnx.model.save(tmp_path_factory.mktemp("onnx") / "model")
    shutil.copy(champion.path / DECISION_FILE, folder / DECISION_FILE)
    register_folder(project["workspace"], "acme-credit", folder, "compressed")


def compress_spec(workspace: Path, spec_path: Path, **options) -> dict:
    """The champion compressed through the solution contract, as ``tailorkit compress``."""
    registry = Registry(workspace)
    spec, _ = load_spec(spec_path)
    version = registry.resolve("acme-credit@champion")
    solution = get_solution("credit_risk")
    return solution.compress(registry, version, spec, spec_path.parent, **options)


@pytest.mark.slow
def test_compress_cli_reports_the_trade_off_and_registers_the_choice(project):
    done = tk(
        project["root"],
        "compress",
        "acme-credit@champion",
        "--spec",
        str(project["spec"]),
        "--methods",
        "onnx,int8,distill",
        "--alias",
        "compressed",
        "--json",
        "--workspace",
        str(project["workspace"]),
    )
    document = json.loads(done.stdout)
    rows = {v["name"]: v for v in document["variants"]}
    assert set(rows) == {"original", "onnx", "torch-int8", "int8", "distill"}
    assert rows["onnx"]["mean_abs_diff"] < 1e-6 and abs(rows["onnx"]["quality_delta"]) < 1e-9
    assert rows["int8"]["mean_abs_diff"] < 0.05 and rows["int8"]["decision_agreement"] > 0.9
    for row in rows.values():
        assert row["size_bytes"] > 0 and row["p99_ms"] >= row["p50_ms"] > 0
    assert document["chosen"] in rows and rows[document["chosen"]]["passed"]
    assert Path(document["report"]).exists()
    assert "Trade-off" in Path(document["report"]).read_text()
    registry = Registry(project["workspace"])
    version = registry.resolve("acme-credit@compressed")
    assert f"acme-credit:{version.version}" == document["registered"]
    files = {p.name for p in version.path.iterdir()}
    assert files == {"model.json", "model.onnx", "decision.json"}
    assert not {p.suffix for p in version.path.iterdir()} & PICKLE_SUFFIXES


@pytest.mark.slow
def test_limits_that_no_variant_meets_fail_the_gate(project, monkeypatch):
    strict = project["root"] / "strict.yaml"
    spec = yaml.safe_load(project["spec"].read_text())
    spec["requirements"] = ["p99_latency_ms <= 0.000001"]
    strict.write_text(yaml.safe_dump(spec))
    from tailorkit.cli import compression

    with pytest.raises(GateFailed, match="no variant"):
        compression.compress(
            "acme-credit@champion",
            spec=strict,
            methods="onnx",
            alias=None,
            enforce=True,
            register=False,
            workspace=project["workspace"],
            as_json=True,
        )
    spec["requirements"], spec["deploy"] = [], {"compress": "int8", "export": "none"}
    strict.write_text(yaml.safe_dump(spec))  # no --methods: the spec's deploy section
    named = compress_spec(project["workspace"], strict, register=False)
    assert {v["name"] for v in named["variants"]} == {"original", "torch-int8", "int8"}
    with pytest.raises(TailorkitError, match="unknown compression method"):
        compress_spec(project["workspace"], project["spec"], methods=("zip",))


def test_choose_takes_the_fastest_model_call_within_the_limits():
    def variant(name, delta, p99, model_ms, servable=True):
        return Variant(name, "", 100, 0.8, delta, 0, 1, p99 / 2, p99, model_ms, model_ms, servable)

    variants = [
        variant("original", 0, 10, 0.3),
        variant("int8", -0.001, 12, 0.1),  # slower rows by noise, faster model call: chosen
        variant("fast", -0.02, 1, 0.01),
    ]
    assert choose(variants, 0.005, None).name == "int8"
    assert choose(variants, 0.05, None).name == "fast"
    assert choose(variants, 0.005, 11.0).name == "original"  # the p99 limit still binds
    assert choose(variants, 0.005, 3.0) is None
    assert choose([variant("torch", 0, 1, 0.1, servable=False)], 0.005, None) is None


def test_pruning_zeroes_half_the_weights_and_keeps_a_working_model():
    import torch
    from sklearn.metrics import roc_auc_score

    # The registered champion is barely trained (check AUROC about 0.55); with 20 epochs the
    # teacher ranks (about 0.84), so a pruned model that stopped ranking shows.
    params = {**TINY_PARAMS["ft_transformer"], "max_epochs": 20, "random_state": 1}
    teacher = make_model("ft_transformer", **params).fit(*applicants(seed=1))
    frame = simulate_applicants(300, random_state=2)
    data = split_for_compression(frame[FEATURES], frame["default"].to_numpy(), 0)
    network, sparsity = prune_and_finetune(teacher, data, epochs=2)
    assert 0.45 <= sparsity <= 0.55
    numeric, categorical = teacher._encode(data.X_check)
    with torch.no_grad():
        logits = network(numeric, categorical).reshape(-1).numpy()
    assert np.isfinite(logits).all()
    teacher_auc = roc_auc_score(data.y_check, teacher.predict_proba(data.X_check)[:, 1])
    assert teacher_auc > 0.75  # measured 0.837; pruned 0.815
    assert roc_auc_score(data.y_check, logits) >= teacher_auc - 0.05


def test_the_runner_needs_only_numpy_and_onnxruntime():
    source = (Path(__file__).parents[2] / "tailorkit/compress/edge_runner.py").read_text()
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module.split(".")[0])
    assert imported <= {"json", "math", "sys", "pathlib", "numpy", "onnxruntime"}


def test_importing_the_compress_package_does_not_load_torch():
    code = "import tailorkit.compress, sys; assert 'torch' not in sys.modules"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("ref", ["acme-credit@champion", "acme-credit@compressed"])
def test_edge_bundle_answers_like_the_service(project, compressed, tmp_path, ref):
    registry = Registry(project["workspace"])
    bundle = export_edge(registry.resolve(ref), tmp_path / "bundle")
    assert {p.name for p in bundle.iterdir()} == {
        "model.onnx",
        "preprocessing.json",
        "runner.py",
        "README.md",
    }
    frame = simulate_applicants(40, random_state=9)[FEATURES]
    rows = json.loads(frame.to_json(orient="records"))
    rows[0]["housing"] = "castle"  # unknown category
    rows[1]["income"] = None  # missing value
    (tmp_path / "rows.json").write_text(json.dumps(rows))
    done = subprocess.run(  # -I: isolated, tailorkit is not importable
        [sys.executable, "-I", str(bundle / "runner.py"), str(tmp_path / "rows.json")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    edge = json.loads(done.stdout)

    store = EventStore(registry)
    if "acme" not in [t["name"] for t in store.tenants()]:
        store.create_tenant("acme")
        store.grant("acme", "acme-credit")
    key = store.rotate_key("acme")
    alias = ref.split("@")[1]
    settings = ServiceSettings(workspace=project["workspace"], poll_interval=0)
    with ThreadServer(create_app(settings)) as server:
        answer = httpx.post(
            f"{server.url}/v1/projects/acme-credit/predict",
            json={"rows": rows, "alias": alias, "reasons": 0},
            headers={"X-API-Key": key},
            timeout=60,
        )
    assert answer.status_code == 200, answer.text
    served = answer.json()["predictions"]
    np.testing.assert_allclose(
        [e["probability"] for e in edge], [s["probability"] for s in served], atol=1e-5
    )
    assert [e["decision"] for e in edge] == [s["decision"] for s in served]


def test_edge_export_refuses_what_it_cannot_bundle(tmp_path):
    workspace = tmp_path / ".tailorkit"
    register_folder(workspace, "gbm-credit", fit_credit_model(tmp_path / "m", "lightgbm"))
    version = Registry(workspace).resolve("gbm-credit")
    with pytest.raises(TailorkitError, match="lightgbm model; the edge bundle needs"):
        export_edge(version, tmp_path / "bundle")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(TailorkitError, match="not empty"):
        export_edge(version, tmp_path / "full")

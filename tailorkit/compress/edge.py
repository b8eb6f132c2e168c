"""The edge bundle: a folder that scores without tailorkit, torch or pandas.

The bundle holds ``model.onnx`` (the network: encoded inputs -> logit), ``preprocessing.json``
(every fitted preprocessing number and the decision threshold), ``runner.py`` (numpy +
onnxruntime only) and a README. An FT-Transformer is exported to ONNX here; a compressed
model (``tailorkit compress``) already is one.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from tailorkit.errors import TailorkitError

RUNNER_SOURCE = Path(__file__).with_name("edge_runner.py")
README = """# tailorkit edge bundle: {model}

Needs only Python 3, `numpy` and `onnxruntime`:

    pip install numpy onnxruntime
    python runner.py rows.json      # rows.json: a JSON list of objects with the columns below

Columns: {columns}

Output: one object per row, `probability` (of {positive}) and `decision`
(`{positive}` above {threshold}, else `{negative}`), equal to the tailorkit service's answer
to 1e-5. Unknown categories and nulls are treated as missing, as in the service.
"""


def write_bundle(model, decision: dict[str, Any], folder: Path, *, name: str) -> Path:
    """Write the bundle of ``model`` with its decision policy into ``folder`` (created; must
    be empty); ``name`` (e.g. ``project:version``) labels it."""
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        raise TailorkitError(f"{folder} is not empty; choose a new folder for the bundle")
    graph, quantiles = _graph_of(model, name)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.onnx").write_bytes(graph)
    spec = preprocessing_document(model.preprocessor_, quantiles, decision)
    spec["model"] = name
    (folder / "preprocessing.json").write_text(json.dumps(spec, indent=1))
    shutil.copyfile(RUNNER_SOURCE, folder / "runner.py")
    (folder / "README.md").write_text(
        README.format(
            model=spec["model"],
            columns=", ".join(spec["columns"]),
            positive=spec["labels"]["positive"],
            negative=spec["labels"]["negative"],
            threshold=spec["threshold"],
        )
    )
    return folder


def preprocessing_document(preprocessor, quantiles, decision: dict[str, Any]) -> dict[str, Any]:
    """Every fitted preprocessing number and the decision policy, as the runner reads them."""
    labels = decision.get("labels") or {}
    return {
        "columns": list(decision["columns"]),
        "types": {c: preprocessor.schema.get(c, "categorical") for c in preprocessor.columns_},
        "numeric_columns": preprocessor.numeric_columns_,
        "numeric_names": preprocessor.numeric_names_,
        "medians": preprocessor.medians_,
        "missing_indicators": preprocessor.missing_indicators_,
        "means": preprocessor.means_,
        "stds": preprocessor.stds_,
        "scale": preprocessor.scale,
        "categorical_columns": preprocessor.categorical_columns_,
        "levels": preprocessor.levels_,
        "quantiles": quantiles,
        "threshold": float(decision["threshold"]),
        "labels": {
            "positive": str(labels.get("positive", "reject")),
            "negative": str(labels.get("negative", "accept")),
        },
    }


def _graph_of(model, name: str) -> tuple[bytes, Any]:
    if model.family == "compressed":
        return model.graph_, model.quantiles_
    if model.family == "ft_transformer":
        # torch loads only here: the service imports preprocessing_document for every family
        import torch

        from tailorkit.compress.onnx_graph import GraphFT, export_onnx  # lazy: torch

        n_numeric = model.network_.n_numeric
        numeric = torch.zeros(2, n_numeric)
        categorical = torch.zeros(2, len(model.network_.cardinalities), dtype=torch.long)
        return export_onnx(GraphFT(model.network_), numeric, categorical), model.quantiles_
    raise TailorkitError(
        f"{name} is a {model.family} model; the edge bundle needs "
        "an ft_transformer or a compressed version (run `tailorkit compress --methods distill` "
        "to get a small ONNX student of any model)"
    )

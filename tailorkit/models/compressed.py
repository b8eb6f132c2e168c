"""Compressed models: an ONNX graph over the FT-Transformer's encoded inputs, run by onnxruntime.

Made by ``tailorkit compress`` (int8 quantization, pruning, distillation into a small MLP),
never by ``fit``. The folder holds ``model.json`` (preprocessor, quantile knots, what was done)
and ``model.onnx``; loading parses the ONNX protobuf, no code runs from the artifact. The graph
takes ``numeric`` (float32, rows x numeric tokens) and ``categorical`` (int64 codes, 0 = missing
or unseen) and returns one logit per row.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tailorkit.data.preprocess import TabularPreprocessor
from tailorkit.errors import RegistryError, SpecError
from tailorkit.models.base import TabularModel
from tailorkit.models.quantiles import apply_quantiles
from tailorkit.optional import require

GRAPH_FILE = "model.onnx"


class CompressedModel(TabularModel):
    """A compressed binary classifier (ONNX graph + JSON preprocessing)."""

    family = "compressed"

    def __init__(self, *, method: str = "onnx", source: str = "", n_threads: int = 1):
        self.method = method
        self.source = source
        self.n_threads = n_threads

    @classmethod
    def from_graph(
        cls,
        graph: bytes,
        *,
        method: str,
        source: str,
        preprocessor: TabularPreprocessor,
        quantiles: list | None,
        schema: dict[str, str],
        importances: np.ndarray,
    ) -> CompressedModel:
        model = cls(method=method, source=source)
        model.schema_ = dict(schema)
        model.classes_ = np.array([0, 1])
        model.preprocessor_ = preprocessor
        model.quantiles_ = quantiles
        model.importances_ = np.asarray(importances, dtype=float)
        model.graph_ = graph
        model._start_session()
        return model

    def _fit(self, X: pd.DataFrame, y: np.ndarray, X_unlabeled: pd.DataFrame | None) -> None:
        raise SpecError("compressed models are made by `tailorkit compress`, not trained")

    def encode(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """The graph's inputs: (numeric float32, categorical int64)."""
        numeric, categorical = self.preprocessor_.transform(X)
        if self.quantiles_ is not None:
            numeric = apply_quantiles(numeric, self.quantiles_)
        return numeric.astype(np.float32), categorical.astype(np.int64)

    def logits(self, numeric: np.ndarray, categorical: np.ndarray) -> np.ndarray:
        feeds = {"numeric": numeric, "categorical": categorical}
        return self.session_.run(None, {k: feeds[k] for k in self.input_names_})[0]

    def _predict_score(self, X: pd.DataFrame) -> np.ndarray:
        logits = self.logits(*self.encode(X)).astype(np.float64)
        return 1.0 / (1.0 + np.exp(-logits))

    def _save_weights(self, path: Path) -> dict[str, Any]:
        (path / GRAPH_FILE).write_bytes(self.graph_)
        return {"graph": GRAPH_FILE, "quantiles": self.quantiles_}

    def _load_weights(self, path: Path, state: dict[str, Any]) -> None:
        graph = path / state["graph"]
        if not graph.is_file():
            raise RegistryError(f"{path}: the compressed model lacks {state['graph']}")
        self.graph_ = graph.read_bytes()
        self.quantiles_ = state["quantiles"]
        self._start_session()

    def _start_session(self) -> None:
        self.session_ = onnx_session(self.graph_, self.n_threads)
        self.input_names_ = [i.name for i in self.session_.get_inputs()]


def onnx_session(graph: bytes, n_threads: int):
    """An onnxruntime CPU session for a serialized graph: ``n_threads`` intra-op threads, one
    inter-op thread (the graph is parsed, never executed as code)."""
    require("onnxruntime", extra="onnx", feature="running an ONNX graph (compressed models)")
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = n_threads
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])

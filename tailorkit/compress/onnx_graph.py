"""ONNX export of a network (the FT-Transformer through ``GraphFT``) and int8 quantization."""

from __future__ import annotations

import io
import logging
import tempfile
import warnings
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from tailorkit.optional import require


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


def export_onnx(module: nn.Module, numeric: torch.Tensor, categorical: torch.Tensor) -> bytes:
    """The module as an ONNX graph (inputs numeric, categorical; output logit; dynamic rows)."""
    require("onnx", extra="onnx", feature="ONNX export")
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
    require("onnx", "onnxruntime", extra="onnx", feature="int8 quantization")
    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.getLogger().setLevel(max(logging.getLogger().level, logging.ERROR))
    with tempfile.TemporaryDirectory() as folder:
        source, target = Path(folder) / "fp32.onnx", Path(folder) / "int8.onnx"
        source.write_bytes(graph)
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8)
        return target.read_bytes()

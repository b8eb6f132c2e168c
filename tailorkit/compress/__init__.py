"""Smaller, faster variants of a trained tabular model, and the edge bundle.

Pure methods on a model and its rows (no spec, no registry); the orchestration that loads a
project's data and registers the choice is ``tailorkit.solutions.tabular_compression``.

- ``onnx_graph``: the FT-Transformer as an ONNX graph, and int8 quantization of a graph;
- ``prune``: magnitude pruning with fine-tuning;
- ``distill``: a small MLP student trained on a teacher's probabilities;
- ``split``: the compression / check split of the labeled rows;
- ``measure``: one trade-off row (quality, agreement, size, latency) per variant;
- ``variants``: every method on one model, and the choice within the limits;
- ``edge``: the bundle that scores with numpy and onnxruntime only;
- ``edge_runner``: the bundle's runner (copied into it; imports numpy and onnxruntime only).

This module imports nothing, so ``import tailorkit.compress`` does not load torch.
"""

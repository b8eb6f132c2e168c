"""The service's view of a project: its solution's serving adapter for a loaded version.

The service never knows a solution's internals; every adapter keeps the contract in
``tailorkit.solutions.serving``.
"""

from __future__ import annotations

from tailorkit.registry import ModelVersion
from tailorkit.solutions import SOLUTIONS, get_solution
from tailorkit.solutions.serving import ServingAdapter, UnsupportedEndpoint

Adapter = ServingAdapter

__all__ = ["Adapter", "ServingAdapter", "UnsupportedEndpoint", "load_adapter"]


def load_adapter(solution: str, version: ModelVersion) -> ServingAdapter:
    """The adapter of ``solution`` for ``version`` (an unknown solution: 503 for it)."""
    if solution not in SOLUTIONS:
        raise UnsupportedEndpoint(
            f"solution '{solution}' has no serving adapter; see docs/serving.md"
        )
    return get_solution(solution).serving_adapter(version)

"""tailorkit: customized models from an enterprise's own data, evaluated, gated, served."""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "Project",
    "RunResult",
    "Spec",
    "TailorkitError",
    "get_solution",
    "load_model",
    "load_spec",
]
__version__ = "0.1.0"

_HOMES = {
    "Project": "tailorkit.pipeline",
    "RunResult": "tailorkit.pipeline",
    "Spec": "tailorkit.spec",
    "load_spec": "tailorkit.solutions.specs",
    "get_solution": "tailorkit.solutions",
    "TailorkitError": "tailorkit.errors",
    "load_model": "tailorkit.models",
}


def __getattr__(name: str) -> Any:
    """Import public names on first use, so the command line starts fast."""
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'tailorkit' has no attribute {name!r}")

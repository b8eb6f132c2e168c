"""Model families (one file each), one catalogue, one contract (``models/base.py``)."""

from __future__ import annotations

from tailorkit.models.registry import (
    FAMILIES,
    families,
    family_class,
    load_model,
    make_model,
    sized_params,
)

__all__ = ["FAMILIES", "families", "family_class", "load_model", "make_model", "sized_params"]

"""Model families (one file each) and loading by family name, never by code in the artifact."""

from __future__ import annotations

import json
from pathlib import Path

from tailorkit.errors import RegistryError
from tailorkit.models.base import MODEL_FILE, TabularModel

__all__ = [
    "MODEL_FAMILIES",
    "TabularModel",
    "load_model",
    "make_model",
    "model_families",
    "sized_params",
]


# family -> (module, class), imported on first use: torch loads only with the FT-Transformer
FAMILY_CLASSES: dict[str, tuple[str, str]] = {
    "logistic": ("tailorkit.models.linear", "LogisticScorecard"),
    "lightgbm": ("tailorkit.models.gbm", "LightGBMModel"),
    "random_forest": ("tailorkit.models.random_forest", "RandomForestModel"),
    "ft_transformer": ("tailorkit.models.ft_transformer", "FTTransformer"),
    "ensemble": ("tailorkit.models.ensemble", "WeightedEnsemble"),
    "compressed": ("tailorkit.models.compressed", "CompressedModel"),  # made by compress
}
# The families whose classes set ``parallel_folds`` (tested), known before their modules are
# imported, so that fold workers can start importing them at once; with the further modules
# their training imports on first use (torch's optimizers import torch._dynamo: 1.2 s).
PARALLEL_FOLD_FAMILIES: dict[str, tuple[str, ...]] = {"ft_transformer": ("torch._dynamo",)}


def model_families() -> dict[str, type]:
    """Family name -> model class, for every family that can be saved and loaded."""
    import importlib

    return {
        family: getattr(importlib.import_module(module), name)
        for family, (module, name) in FAMILY_CLASSES.items()
    }


MODEL_FAMILIES: tuple[str, ...] = (
    "logistic",
    "lightgbm",
    "random_forest",
    "ft_transformer",
    "ensemble",
)


def make_model(family: str, **params) -> TabularModel:
    """A fresh, unfitted model of the named family."""
    families = model_families()
    if family not in families:
        raise RegistryError(f"unknown model {family!r}; choose from {', '.join(families)}")
    return families[family](**params)


def sized_params(family: str, params: dict, n_rows: int) -> dict:
    """``params`` with the family's size-dependent defaults settled for ``n_rows`` rows."""
    return make_model(family, **params).sized_for(n_rows).get_params(deep=False)


def load_model(path: str | Path) -> TabularModel:
    """Load a saved model folder. Reads JSON and weight files only."""
    path = Path(path)
    config = path / MODEL_FILE
    if not config.exists():
        raise RegistryError(f"{path} is not a saved tailorkit model (no {MODEL_FILE})")
    document = json.loads(config.read_text())
    families = model_families()
    if document.get("family") not in families:
        raise RegistryError(f"{config}: unknown model family {document.get('family')!r}")
    return families[document["family"]]._from_document(document, path)

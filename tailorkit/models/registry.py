"""The model catalogue: every family by one unique name, made and loaded the same way.

A family's module is imported on first use, so a run pays for torch only when it trains a
neural family. Loading a saved folder reads its ``model.json`` and picks the class by the
family name written there: no code from the artifact runs, ever.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tailorkit.errors import RegistryError, SpecError

MODEL_FILE = "model.json"


@dataclass(frozen=True)
class Family:
    """One catalogue entry: where the class lives and what kind of inputs it takes."""

    name: str
    module: str
    class_name: str
    kind: str  # tabular | modality | window | recommender
    # Modules worth importing in fold workers before the first job (torch's optimizers
    # import torch._dynamo on first use: 1.2 s each).
    preload: tuple[str, ...] = ()


_M = "tailorkit.models."
FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family("logistic", _M + "linear", "LogisticScorecard", "tabular"),
        Family("lightgbm", _M + "gbm", "LightGBMModel", "tabular"),
        Family("random_forest", _M + "random_forest", "RandomForestModel", "tabular"),
        Family(
            "ft_transformer", _M + "ft_transformer", "FTTransformer", "tabular", ("torch._dynamo",)
        ),
        Family("ensemble", _M + "ensemble", "WeightedEnsemble", "tabular"),
        Family("compressed", _M + "compressed", "CompressedModel", "tabular"),
        Family("text_classifier", _M + "text_classifier", "TextClassifier", "modality"),
        Family("image_cnn", _M + "cnn", "ImageCNN", "modality"),
        Family("visit_gru", _M + "visit_gru", "VisitGRU", "modality"),
        Family("fusion", _M + "fusion", "FusionClassifier", "modality"),
        Family("sensor_lightgbm", _M + "window_gbm", "WindowLightGBM", "window"),
        Family("sensor_lstm", _M + "sensor_lstm", "SensorLSTM", "window"),
        Family("sensor_cnn", _M + "sensor_cnn", "SensorCNN", "window"),
        Family("sensor_transformer", _M + "sensor_transformer", "SensorTransformer", "window"),
        Family("sensor_ensemble", _M + "sensor_ensemble", "WindowEnsemble", "window"),
        Family("popularity", _M + "popularity", "Popularity", "recommender"),
        Family("item_knn", _M + "item_knn", "ItemKNN", "recommender"),
        Family("als", _M + "als", "ImplicitALS", "recommender"),
        Family("sasrec", _M + "sasrec", "SASRec", "recommender"),
    )
}
# Made by other families or commands, never a spec's candidate.
INTERNAL_FAMILIES = ("ensemble", "compressed", "sensor_ensemble")


def families(kind: str | None = None) -> list[str]:
    """Family names, all or of one kind, in catalogue order."""
    return [name for name, f in FAMILIES.items() if kind is None or f.kind == kind]


def family_class(name: str) -> type:
    """The class of a family (its module imported now)."""
    entry = FAMILIES.get(name)
    if entry is None:
        raise RegistryError(f"unknown model family {name!r}; known: {', '.join(FAMILIES)}")
    return getattr(importlib.import_module(entry.module), entry.class_name)


def parameter_names(name: str) -> list[str]:
    """The keyword parameters a family's ``__init__`` takes."""
    signature = inspect.signature(family_class(name).__init__)
    return [p for p in signature.parameters if p != "self"]


def check_params(name: str, params: dict[str, Any], where: str = "params") -> None:
    """A ``SpecError`` naming an unknown parameter and the closest known one."""
    known = parameter_names(name)
    for key in params:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; known: {', '.join(known)}"
            raise SpecError(f"{where}: {name} has no parameter '{key}'{hint}")


def make_model(name: str, **params: Any) -> Any:
    """A fresh, unfitted model of the named family; unknown parameters are a clear error."""
    check_params(name, params)
    return family_class(name)(**params)


def sized_params(name: str, params: dict[str, Any], n_rows: int) -> dict[str, Any]:
    """``params`` with a tabular family's size-dependent defaults settled for ``n_rows``."""
    return make_model(name, **params).sized_for(n_rows).get_params(deep=False)


def load_model(path: str | Path) -> Any:
    """Load any saved model folder. Reads JSON and weight files only."""
    path = Path(path)
    config = path / MODEL_FILE
    if not config.is_file():
        raise RegistryError(f"{path} is not a saved tailorkit model (no {MODEL_FILE})")
    try:
        document = json.loads(config.read_text())
    except (ValueError, UnicodeDecodeError) as error:
        raise RegistryError(f"{config}: not valid JSON ({error})") from None
    name = document.get("family") if isinstance(document, dict) else None
    if name not in FAMILIES:
        raise RegistryError(f"{config}: unknown model family {name!r}")
    return family_class(name).from_document(document, path)

"""From a spec's data section to model-ready training data: target, schema, exclusions."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from tailorkit.data.io import read_table, table_label
from tailorkit.data.schema import infer_schema
from tailorkit.errors import DataError, SpecError
from tailorkit.spec import DataSection, Spec

# target values read as the event (the positive class) when the spec names none
POSITIVE_LABELS = ("1", "bad", "yes", "true", "default", "defaulted", "y", "fraud")


@dataclass
class TrainingData:
    """Labeled features, the 0/1 target, and everything the report must say about them."""

    X: pd.DataFrame
    y: np.ndarray
    schema: dict[str, str]
    positive_label: str
    source: str
    protected: pd.DataFrame
    X_unlabeled: pd.DataFrame | None = None
    dropped: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def read_training_table(section: DataSection, base_dir: Path) -> pd.DataFrame:
    """The table the spec's ``data.train`` names: a file, or a SQL table or query."""
    return read_table(
        section.train,
        table=section.table,
        query=section.query,
        sheet=section.sheet,
        encoding=section.encoding,
        base_dir=base_dir,
    )


def load_training_data(
    spec: Spec, base_dir: Path, *, frame: pd.DataFrame | None = None
) -> TrainingData:
    """Read the training table (or take ``frame``, already read from ``spec.data.train``)
    and turn it into features and a binary target."""
    section = spec.data
    if frame is None:
        frame = read_training_table(section, base_dir)
    source = table_label(section.train, table=section.table, query=section.query)
    if spec.target not in frame.columns:
        raise DataError(
            f"{source}: target column '{spec.target}' not found; columns are "
            f"{', '.join(map(str, frame.columns[:30]))}"
        )
    _check_named_columns(spec, frame, source)
    warnings: list[str] = []
    labeled = frame[spec.target].notna()
    unlabeled_rows = frame.loc[~labeled].drop(columns=[spec.target])
    if len(unlabeled_rows):
        warnings.append(
            f"{len(unlabeled_rows)} rows have no '{spec.target}' value: they are used only "
            "for self-supervised pretraining"
        )
    frame = frame.loc[labeled].reset_index(drop=True)
    y, positive_label = binary_target(frame[spec.target], spec, source)
    features = frame.drop(columns=[spec.target])
    schema = infer_schema(features, overrides=spec.features.types)
    dropped = _columns_to_drop(spec, features, schema)
    warnings += [f"column '{c}' {why}" for c, why in dropped.items()]
    protected = features[spec.features.protected].copy()
    X = features.drop(columns=list(dropped))
    schema = {c: t for c, t in schema.items() if c in X.columns}
    X_unlabeled = _unlabeled_rows(spec, base_dir, unlabeled_rows, X.columns)
    return TrainingData(
        X, y, schema, positive_label, source, protected, X_unlabeled, dropped, warnings
    )


def binary_target(series: pd.Series, spec: Spec, source: str) -> tuple[np.ndarray, str]:
    """Map the target column to 0/1; the positive class is the event (default, fraud)."""
    values = series.astype(str).str.strip()
    levels = sorted(values.unique())
    if len(levels) < 2:
        raise DataError(
            f"{source}: target '{spec.target}' has only one value ({levels[0]!r}); a binary "
            "task needs rows of both outcomes"
        )
    if len(levels) > 2:
        raise DataError(
            f"{source}: target '{spec.target}' has {len(levels)} distinct values "
            f"({', '.join(levels[:6])}{', ...' if len(levels) > 6 else ''}); this solution "
            "predicts a binary outcome: map the target to two values"
        )
    if spec.positive_label is not None:
        positive = str(spec.positive_label).strip()
        if positive == "True" or positive == "False":
            positive = positive.lower()
        matches = [v for v in levels if v.lower() == positive.lower()]
        if not matches:
            raise SpecError(
                f"field 'positive_label': {spec.positive_label!r} is not a value of target "
                f"'{spec.target}' (values: {', '.join(levels)})"
            )
        positive = matches[0]
    else:
        known = [v for v in levels if v.lower() in POSITIVE_LABELS or v in ("1", "1.0")]
        if len(known) != 1:
            raise SpecError(
                f"target '{spec.target}' has values {levels[0]!r} and {levels[1]!r}: set "
                "'positive_label' in the spec to the one that means the event (e.g. default)"
            )
        positive = known[0]
    return (values == positive).to_numpy(int), positive


def _check_named_columns(spec: Spec, frame: pd.DataFrame, source: str) -> None:
    named = {
        "features.protected": spec.features.protected,
        "features.drop": spec.features.drop,
        "features.types": list(spec.features.types),
        "data.key": [spec.data.key] if spec.data.key else [],
    }
    for field_name, columns in named.items():
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise SpecError(
                f"field '{field_name}' names column(s) {', '.join(map(repr, missing))} that "
                f"{source} does not have"
            )


def _columns_to_drop(spec: Spec, features: pd.DataFrame, schema: dict[str, str]) -> dict:
    dropped: dict[str, str] = {}
    for column in features.columns:
        if column == spec.data.key:
            dropped[column] = "is the key: kept out of the model"
        elif column in spec.features.drop:
            dropped[column] = "is listed in features.drop"
        elif column in spec.features.protected and spec.features.exclude_protected:
            dropped[column] = "is protected: audited for fairness, not used by the models"
        elif features[column].isna().all():
            dropped[column] = "is empty in every row and was ignored"
        elif schema[column] == "id":
            dropped[column] = "looks like an identifier and was ignored"
        elif schema[column] == "text":
            dropped[column] = "holds free text, which the credit_risk solution does not use yet"
        elif features[column].nunique(dropna=True) <= 1 and not features[column].isna().any():
            dropped[column] = "has the same value in every row and was ignored"
    return dropped


def _unlabeled_rows(
    spec: Spec, base_dir: Path, rows_without_target: pd.DataFrame, columns: pd.Index
) -> pd.DataFrame | None:
    parts = [rows_without_target] if len(rows_without_target) else []
    if spec.data.unlabeled:
        extra = read_table(spec.data.unlabeled, encoding=spec.data.encoding, base_dir=base_dir)
        missing = [c for c in columns if c not in extra.columns]
        if missing:
            raise DataError(
                f"{spec.data.unlabeled}: unlabeled rows lack column(s) "
                f"{', '.join(map(repr, missing))} used by the models"
            )
        parts.append(extra)
    if not parts:
        return None
    return pd.concat([p[list(columns)] for p in parts], ignore_index=True)

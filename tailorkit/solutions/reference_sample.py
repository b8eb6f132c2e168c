"""The training reference a model version carries for monitoring: ``reference.json`` in its
artifact, a bounded random sample of the training rows (at most ``MAX_ROWS``, fixed seed) with
each column's type, and the model's out-of-fold scores on those rows (the prediction-drift
reference). Only the model's input columns are written: the spec's protected and personal
columns never are. Written at registration by tabular solutions (credit risk); a version
without it has no drift reference (the monitoring answer says so).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REFERENCE_FILE = "reference.json"
MAX_ROWS = 5000


@dataclass(frozen=True)
class Reference:
    """A version's training sample: the rows (as a frame), their types, their scores."""

    frame: pd.DataFrame
    types: dict[str, str]
    scores: np.ndarray
    total_rows: int


def save_reference(
    folder: Path,
    X: pd.DataFrame,
    types: dict[str, str],
    scores: np.ndarray | None,
    *,
    excluded: list[str] = (),
    seed: int = 0,
) -> Path:
    """Write ``reference.json`` into ``folder`` from the training rows ``X`` (``excluded``:
    the protected and personal columns, dropped) and their scores (NaN: none)."""
    columns = [c for c in X.columns if c not in set(excluded)]
    picked = np.sort(
        np.random.default_rng(seed).choice(len(X), min(len(X), MAX_ROWS), replace=False)
    )
    sample = X.iloc[picked][columns]
    values = {c: [_plain(v) for v in sample[c].tolist()] for c in columns}
    picked_scores = [] if scores is None else [_plain(s) for s in np.asarray(scores)[picked]]
    document = {
        "rows": len(sample),
        "total_rows": len(X),
        "seed": seed,
        "types": {c: types.get(c, "categorical") for c in columns},
        "columns": values,
        "scores": picked_scores,
    }
    path = Path(folder) / REFERENCE_FILE
    path.write_text(json.dumps(document))
    return path


def load_reference(folder: Path) -> Reference | None:
    """The version's reference, or None when its artifact has none."""
    path = Path(folder) / REFERENCE_FILE
    if not path.is_file():
        return None
    document = json.loads(path.read_text())
    frame = pd.DataFrame(document["columns"])
    scores = np.array([np.nan if s is None else s for s in document["scores"]], dtype=float)
    return Reference(frame, dict(document["types"]), scores, int(document["total_rows"]))


def _plain(value: Any) -> Any:
    """A JSON value: NaN and missing as null, numpy scalars as Python ones."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, np.generic):
        value = value.item()
        return None if isinstance(value, float) and math.isnan(value) else value
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value if isinstance(value, (int, float, str, bool)) else str(value)

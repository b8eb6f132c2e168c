"""Edge runner for a tailorkit bundle: needs only numpy and onnxruntime.

    python runner.py rows.json          # a JSON list of row objects (or - for stdin)
    python -c "from runner import EdgeModel; print(EdgeModel('.').predict([{...}]))"

Reads ``preprocessing.json`` (imputation, scaling, category levels, quantile knots, decision
threshold) and ``model.onnx`` from the bundle folder and prints one JSON object per row with the
probability and the decision, as the tailorkit service computes them.
"""

import json
import math
import sys
from pathlib import Path

import numpy as np

BOOLEAN = {"true": 1.0, "yes": 1.0, "y": 1.0, "t": 1.0, "1": 1.0}
BOOLEAN.update({"false": 0.0, "no": 0.0, "n": 0.0, "f": 0.0, "0": 0.0})


class EdgeModel:
    """The bundled model: ``predict(rows)`` -> [{"probability": p, "decision": d}, ...]."""

    def __init__(self, folder="."):
        import onnxruntime  # here: tailorkit's service reuses encode_rows without onnxruntime

        folder = Path(folder)
        self.spec = json.loads((folder / "preprocessing.json").read_text())
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(
            str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )
        self.inputs = [i.name for i in self.session.get_inputs()]

    def encode(self, rows):
        return encode_rows(self.spec, rows)

    def probabilities(self, rows):
        numeric, categorical = self.encode(rows)
        feeds = {"numeric": numeric, "categorical": categorical}
        logits = self.session.run(None, {k: feeds[k] for k in self.inputs})[0]
        return 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))

    def predict(self, rows):
        threshold = self.spec["threshold"]
        labels = self.spec["labels"]
        return [
            {
                "probability": float(p),
                "decision": labels["positive"] if p > threshold else labels["negative"],
            }
            for p in self.probabilities(rows)
        ]


def encode_rows(spec, rows):
    """(numeric float32, categorical int64 codes) exactly as tailorkit's preprocessor."""
    for index, row in enumerate(rows):
        missing = [c for c in spec["columns"] if c not in row]
        if missing:
            raise ValueError(f"rows[{index}] lacks field(s) {missing}")
    raw = {}
    for column in spec["numeric_columns"]:
        kind = spec["types"][column]
        values = [row[column] for row in rows]
        if kind == "datetime":
            raw.update(_datetime_parts(column, values))
        elif kind == "boolean":
            raw[column] = np.array([_boolean(v, column) for v in values], dtype=float)
        else:
            raw[column] = np.array([_number(v, column) for v in values], dtype=float)
    names = spec["numeric_names"]
    filled = np.column_stack([raw[n] for n in names]) if names else np.zeros((len(rows), 0))
    indicators = (
        np.column_stack([np.isnan(raw[n]).astype(float) for n in spec["missing_indicators"]])
        if spec["missing_indicators"]
        else np.zeros((len(rows), 0))
    )
    medians = np.array([spec["medians"][n] for n in names], dtype=float)
    filled = np.where(np.isnan(filled), medians[None, :], filled)
    if spec["scale"]:
        means = np.array([spec["means"][n] for n in names], dtype=float)
        stds = np.array([spec["stds"][n] for n in names], dtype=float)
        filled = (filled - means) / stds
    block = np.hstack([filled, indicators]).astype(np.float32)
    if spec["quantiles"] is not None:
        out = block.copy()
        for j, knots in enumerate(spec["quantiles"]):
            if knots is not None:
                out[:, j] = np.interp(block[:, j], knots[0], knots[1])
        block = out.astype(np.float32)
    codes = np.zeros((len(rows), len(spec["categorical_columns"])), dtype=np.int64)
    for j, column in enumerate(spec["categorical_columns"]):
        lookup = {level: i + 1 for i, level in enumerate(spec["levels"][column])}
        for i, row in enumerate(rows):
            value = row[column]
            if value is not None:
                codes[i, j] = lookup.get(str(value).strip(), 0)
    return block, codes


def _number(value, column):
    if value is None or value == "":
        return math.nan
    if isinstance(value, bool):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"column {column!r} must be numeric, got {value!r}") from None


def _boolean(value, column):
    if value is None:
        return math.nan
    if isinstance(value, (bool, int, float)):
        return float(value)
    text = str(value).strip().lower()
    if text not in BOOLEAN:
        raise ValueError(f"column {column!r} must be boolean, got {value!r}")
    return BOOLEAN[text]


def _datetime_parts(column, values):
    stamps = np.array(
        [np.datetime64(v) if v not in (None, "") else np.datetime64("NaT") for v in values],
        dtype="datetime64[s]",
    )
    missing = np.isnat(stamps)
    safe = np.where(missing, np.datetime64(0, "s"), stamps)
    years = safe.astype("datetime64[Y]").astype(int) + 1970
    months = safe.astype("datetime64[M]").astype(int) % 12 + 1
    days = safe.astype("datetime64[D]").astype(int)
    parts = {
        "year": years.astype(float),
        "month": months.astype(float),
        "dayofweek": ((days + 3) % 7).astype(float),  # 1970-01-01 was a Thursday (3)
        "hour": ((safe - safe.astype("datetime64[D]")).astype(int) // 3600).astype(float),
    }
    return {f"{column}__{k}": np.where(missing, np.nan, v) for k, v in parts.items()}


def main(argv):
    source = argv[1] if len(argv) > 1 else "-"
    text = sys.stdin.read() if source == "-" else Path(source).read_text()
    rows = json.loads(text)
    model = EdgeModel(Path(__file__).resolve().parent)
    print(json.dumps(model.predict(rows)))


if __name__ == "__main__":
    main(sys.argv)

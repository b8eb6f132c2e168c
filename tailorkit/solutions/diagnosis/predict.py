"""A registered diagnosis version ready to score: probability (recalibrated), decision at
the operating point and the top factors, for a file (``tailorkit predict``) or for rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd

from tailorkit.data.io import iter_table_chunks
from tailorkit.data.patients import LoadReport
from tailorkit.errors import DataError, RegistryError
from tailorkit.evaluate.clinical import apply_recalibration
from tailorkit.models import load_model
from tailorkit.registry import ModelVersion
from tailorkit.solutions.base import Say
from tailorkit.solutions.diagnosis.candidates import Candidate, predict_candidate
from tailorkit.solutions.diagnosis.data import build_inputs, modality_columns
from tailorkit.solutions.diagnosis.document import top_factors
from tailorkit.solutions.diagnosis.spec import DiagnosisSpec
from tailorkit.solutions.diagnosis.train import DECISION_FILE, MODEL_FOLDER

LABELS = {"positive": "positive", "negative": "negative"}


class DiagnosisScorer:
    """One loaded version: its decision policy (``diagnosis.json``) and model."""

    def __init__(self, version: ModelVersion) -> None:
        path = Path(version.path) / DECISION_FILE
        if not path.is_file():
            raise RegistryError(
                f"{version.project}:{version.version} is not a diagnosis model (no {DECISION_FILE})"
            )
        self.ref = f"{version.project}:{version.version}"
        self.decision = json.loads(path.read_text())
        self.spec = DiagnosisSpec.model_validate(self.decision["spec"], context={"stored": True})
        self.model = load_model(Path(version.path) / MODEL_FOLDER)
        self.columns = list(self.decision["columns"])
        self.side_columns = modality_columns(self.spec)
        self.key = self.decision.get("key") or self.spec.patient
        self.candidate = Candidate(
            self.decision["model"], self.decision["family"], self.decision["modality"], {}
        )

    def missing_columns(self, columns) -> list[str]:
        return [c for c in self.columns + self.side_columns if c not in columns]

    def score(self, frame: pd.DataFrame, base_dir: Path, warn: Say | None = None) -> pd.DataFrame:
        """Probability, decision and three factors per row of ``frame`` (image paths are
        relative to ``base_dir``)."""
        missing = self.missing_columns(frame.columns)
        if missing:
            raise DataError(
                f"lacks column(s) {', '.join(map(repr, missing))} that model {self.ref} needs "
                "(empty values are allowed)"
            )
        frame = frame.reset_index(drop=True)
        report = LoadReport()
        inputs, _ = build_inputs(
            self.spec,
            base_dir,
            frame[self.columns],
            frame[self.side_columns],
            report,
            image_size=self.decision["image_size"],
        )
        for warning in report.warnings if warn else ():
            warn(warning)
        probability = predict_candidate(
            self.candidate, self.model, inputs, self.decision["base_rate"]
        )
        probability = apply_recalibration(self.decision["recalibration"], probability)
        out = pd.DataFrame(index=frame.index)
        if self.key and self.key in frame.columns:
            out[self.key] = frame[self.key]
        out["probability"] = np.round(probability, 6)
        positive = probability >= self.decision["threshold"]
        out["decision"] = np.where(positive, LABELS["positive"], LABELS["negative"])
        factors = top_factors(self.candidate.modality, self.model, inputs)
        for rank in range(3):
            out[f"factor_{rank + 1}"] = [f[rank] if len(f) > rank else "" for f in factors]
        return out


def predict_file(version: ModelVersion, source: str, handle: IO[str], chunk_rows: int, warn) -> int:
    """Score ``source`` in chunks, streamed as CSV; image paths are relative to its folder."""
    scorer = DiagnosisScorer(version)
    base_dir = Path(source).resolve().parent
    rows = 0
    for number, chunk in enumerate(iter_table_chunks(source, chunk_rows=chunk_rows)):
        try:
            out = scorer.score(chunk, base_dir, lambda message: warn(f"{source}: {message}"))
        except DataError as error:
            raise DataError(f"{source}: {error}") from None
        out.to_csv(handle, header=number == 0, index=False)
        rows += len(out)
    return rows

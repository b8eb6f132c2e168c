"""The diagnosis candidates: one per modality the data has (or the spec's), how each is
built, fitted on some rows and scored, and their folds as a task for the CV engine."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tailorkit.errors import SpecError
from tailorkit.execution.process_pool import fold_workers
from tailorkit.models import make_model, sized_params
from tailorkit.solutions.diagnosis.data import PatientData
from tailorkit.solutions.diagnosis.spec import (
    DEFAULT_TABULAR,
    MODALITY_OF_FAMILY,
    TABULAR_FAMILIES,
    DiagnosisSpec,
)
from tailorkit.spec import ModelEntry
from tailorkit.training.ablation import is_ablation, pretraining_twin
from tailorkit.training.crossval import Outcome


@dataclass
class Candidate:
    name: str
    family: str
    modality: str  # tabular | text | image | visits | fusion
    params: dict[str, Any]

    def build(self):
        return make_model(self.family, **self.params)


def candidates_for(spec: DiagnosisSpec, data: PatientData) -> list[Candidate]:
    """The spec's models, or the defaults for the modalities the data has."""
    seed = spec.evaluation.seed
    modalities = data.inputs.modalities()
    defaults = {
        "text_classifier": spec.text_model.model_dump(exclude_none=True),
        "image_cnn": {
            "image_size": data.image_size,
            "max_epochs": spec.image_model.max_epochs,
            "backbone": spec.image_model.backbone,
            "pretrained_path": spec.image_model.pretrained_path,
        },
        "visit_gru": {},
        "fusion": {
            "encoder": spec.text_model.encoder,
            "text_max_length": spec.text_model.max_length,
            "image_size": data.image_size or 28,
            "modality_dropout": spec.fusion.modality_dropout,
            "max_epochs": spec.fusion.max_epochs,
            "backbone": spec.image_model.backbone,
            "pretrained_path": spec.image_model.pretrained_path,
        },
    }
    entries = spec.model_entries()
    if not entries:
        entries = [ModelEntry(name=f, family=f) for f in DEFAULT_TABULAR if "tabular" in modalities]
        for family, modality in (
            ("text_classifier", "text"),
            ("image_cnn", "image"),
            ("visit_gru", "visits"),
        ):
            if modality in modalities:
                entries.append(ModelEntry(name=family, family=family))
        if len(modalities) > 1:
            entries.append(ModelEntry(name="fusion", family="fusion"))
    out = []
    for entry in entries:
        if entry.family in TABULAR_FAMILIES:
            if "tabular" not in modalities:
                raise SpecError(f"model '{entry.name}' needs table columns; the data has none")
            params = {"random_state": seed, **entry.params}
            if entry.family != "ensemble":  # one configuration for every fold and the refit
                params = sized_params(entry.family, params, len(data.y))
            out.append(Candidate(entry.name, entry.family, "tabular", params))
            if entry.family == "ft_transformer" and spec.evaluation.pretraining_ablation:
                unlabeled = data.tabular.X_unlabeled is not None
                twin, twin_params = pretraining_twin(entry.name, params, unlabeled)
                out.append(Candidate(twin, entry.family, "tabular", twin_params))
        elif entry.family in MODALITY_OF_FAMILY:
            modality = MODALITY_OF_FAMILY[entry.family]
            if modality != "fusion" and modality not in modalities:
                raise SpecError(
                    f"model '{entry.name}' needs {modality} data; set the spec's "
                    f"{'text' if modality == 'text' else modality} section"
                )
            params = {**defaults[entry.family], "random_state": seed, **entry.params}
            out.append(Candidate(entry.name, entry.family, modality, params))
        else:
            known = ", ".join(TABULAR_FAMILIES[:-1] + tuple(MODALITY_OF_FAMILY))
            raise SpecError(f"unknown model family '{entry.family}'; choose from {known}")
    if spec.evaluation.pretraining_ablation and not any(is_twin(c) for c in out):
        raise SpecError(
            "field 'evaluation.pretraining_ablation' needs an ft_transformer candidate (the "
            "only model with pretraining); add it to models or remove the field"
        )
    return out


def is_twin(candidate: Candidate) -> bool:
    """A pretraining-ablation twin: scored and reported, never blended or chosen."""
    return is_ablation(candidate.name)


def blend_members(candidates: list[Candidate]) -> list[Candidate]:
    """The tabular candidates the ensemble blends."""
    return [
        c for c in candidates if c.modality == "tabular" and c.name != "ensemble" and not is_twin(c)
    ]


def model_inputs(candidate: Candidate, data_inputs, rows: np.ndarray | None = None):
    """What this candidate's ``fit`` / ``predict_proba`` take, for these rows."""
    inputs = data_inputs if rows is None else data_inputs.take(rows)
    if candidate.modality == "tabular":
        return inputs.tabular
    if candidate.modality == "text":
        return inputs.notes
    if candidate.modality == "image":
        return inputs.images
    return inputs


def fit_candidate(candidate: Candidate, data: PatientData, rows: np.ndarray):
    """A fresh model fitted on ``rows`` (image-only models on the rows that have an image)."""
    inputs, y = data.inputs, data.y
    if candidate.modality == "image" and inputs.image_present is not None:
        rows = rows[inputs.image_present[rows]]
    model = candidate.build()
    if candidate.modality == "tabular":
        return model.fit(  # data.unlabeled rows: the FT-Transformer's pretraining
            inputs.tabular.iloc[rows],
            y[rows],
            schema=data.tabular.schema,
            X_unlabeled=data.tabular.X_unlabeled,
        )
    return model.fit(model_inputs(candidate, inputs, rows), y[rows])


def predict_candidate(candidate: Candidate, model, inputs, base_rate: float) -> np.ndarray:
    """Positive-class probability; an image-only model gives the base rate where a row has
    no image."""
    probability = model.predict_proba(model_inputs(candidate, inputs))[:, 1]
    if candidate.modality == "image" and inputs.image_present is not None:
        probability = np.where(inputs.image_present, probability, base_rate)
    return probability


@dataclass
class PatientFolds:
    """A candidate's folds for the CV engine (``tailorkit.training.crossval``)."""

    candidate: Candidate
    data: PatientData

    def fit_score(self, train: np.ndarray, valid: np.ndarray) -> Outcome:
        """Fit on the training rows, score the validation rows; an image-only model gives
        the training base rate where a row has no image."""
        started = time.perf_counter()
        model = fit_candidate(self.candidate, self.data, train)
        fit_seconds = time.perf_counter() - started
        started = time.perf_counter()
        base_rate = float(self.data.y[train].mean())
        inputs = self.data.inputs.take(valid)
        scores = predict_candidate(self.candidate, model, inputs, base_rate)
        return scores, fit_seconds, time.perf_counter() - started

    def fit_all(self, folder: Path) -> Path:
        return fit_candidate(self.candidate, self.data, np.arange(len(self.data.y))).save(folder)


def fold_workers_for(spec: DiagnosisSpec, n_splits: int) -> int:
    """Fold processes: ``evaluation.n_jobs`` (at most one per fold); unset, the folds run
    one after another in this process."""
    n_jobs = spec.evaluation.n_jobs
    return fold_workers(n_jobs, n_splits) if n_jobs else 1

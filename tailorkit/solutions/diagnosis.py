"""Diagnosis: patient records (table, clinical notes, images, visit sequences) in, disease
probability at a clinical operating point out, evaluated the way clinicians expect.

Defaults: logistic regression, LightGBM and an FT-Transformer on the table (blended on
out-of-fold predictions), plus one model per extra modality (note classifier on MiniLM,
small CNN on images, GRU on visits) and a late-fusion model when there are several;
stratified 5-fold CV, grouped by patient when a patient has several rows; the operating
point at sensitivity ≥ 0.90 chosen on out-of-fold predictions; AUROC as the headline.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from tailorkit.errors import DataError, SpecError
from tailorkit.evaluate.clinical import CLINICAL_METRICS, OperatingPolicy
from tailorkit.solutions import require_options
from tailorkit.spec import ModelEntry, Spec

DECISION_FILE = "diagnosis.json"
MODEL_FOLDER = "model"
TABULAR_FAMILIES = ("logistic", "lightgbm", "ft_transformer", "ensemble")
MODALITY_OF_FAMILY = {
    "text_classifier": "text",
    "image_cnn": "image",
    "visit_gru": "visits",
    "fusion": "fusion",
}
SEX_NAMES = ("sex", "gender")
AGE_NAMES = ("age", "age_years", "age_in_years")


# ---------------------------------------------------------------------- spec
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _user_spec(info: ValidationInfo) -> bool:
    """False for a spec stored with a trained model (validated with ``context={"stored":
    True}``): it was checked when the model was trained, perhaps before a newer check."""
    return not (info.context or {}).get("stored")


class OperatingPointSection(_Strict):
    """One of: a sensitivity target, a specificity target, or a cost ratio; optional floors
    on the rate that is not the target."""

    sensitivity: float | None = Field(None, gt=0, le=1)
    specificity: float | None = Field(None, gt=0, le=1)
    min_specificity: float | None = Field(None, ge=0, le=1)
    min_sensitivity: float | None = Field(None, ge=0, le=1)
    cost_ratio: float | None = Field(
        None, gt=0, description="cost of a missed case in false alarms"
    )

    @model_validator(mode="after")
    def _exactly_one(self, info: ValidationInfo) -> OperatingPointSection:
        chosen = [k for k in ("sensitivity", "specificity", "cost_ratio") if getattr(self, k)]
        if len(chosen) != 1:
            raise ValueError(
                "give exactly one of sensitivity, specificity or cost_ratio "
                f"(got {', '.join(chosen) or 'none'})"
            )
        target = chosen[0]
        if getattr(self, f"min_{target}", None) is not None and _user_spec(info):
            raise ValueError(
                f"min_{target} is a floor beside a target on the other rate or a cost_ratio; "
                f"with a {target} target, raise {target} instead"
            )
        return self

    def policy(self) -> OperatingPolicy:
        return OperatingPolicy(**self.model_dump())


class TextModelSection(_Strict):
    encoder: str | None = Field(None, description="HF name or path; default: offline MiniLM")
    mode: Literal["frozen", "finetune", "lora"] = "frozen"
    max_length: int = Field(256, ge=8, le=512)
    max_epochs: int | None = Field(None, ge=1, description="finetune / lora epochs (default 3)")

    @model_validator(mode="after")
    def _epochs_train_an_encoder(self, info: ValidationInfo) -> TextModelSection:
        if self.mode == "frozen" and self.max_epochs is not None and _user_spec(info):
            raise ValueError(
                "max_epochs applies to mode finetune or lora; mode frozen fits a "
                "logistic-regression head on fixed embeddings (no epochs): remove max_epochs "
                "or set mode"
            )
        return self


class ImageModelSection(_Strict):
    size: int | None = Field(
        None, ge=8, le=256, description="side in pixels (default: most common)"
    )
    max_epochs: int = Field(40, ge=1)
    backbone: Literal["small", "resnet18", "resnet34"] = Field(
        "small", description="small (from scratch) or an ImageNet ResNet for pretrained weights"
    )
    pretrained_path: str | None = None


class VisitsSection(_Strict):
    file: str
    patient_col: str
    time_col: str
    features: list[str] | None = None
    max_visits: int = Field(20, ge=1)


class FusionSection(_Strict):
    modality_dropout: float = Field(0.25, ge=0, lt=1)
    max_epochs: int = Field(60, ge=1)


class DiagnosisSpec(Spec):
    """The tabular spec plus notes, images, visits, a patient id and the clinical policy."""

    solution: Literal["diagnosis"]  # type: ignore[assignment]
    patient: str | None = Field(None, description="patient id column: folds never split one")
    text: list[str] = []
    text_model: TextModelSection = TextModelSection()
    images: dict[str, str] = Field({}, description="{image name: column of file paths}")
    image_array: str | None = Field(None, description=".npy/.npz, one image per table row")
    image_model: ImageModelSection = ImageModelSection()
    visits: VisitsSection | None = None
    fusion: FusionSection = FusionSection()
    operating_point: OperatingPointSection = OperatingPointSection(sensitivity=0.9)
    prevalence: float | None = Field(None, gt=0, lt=1, description="for PPV / NPV")
    recalibration: Literal["none", "platt", "isotonic"] = "none"
    subgroups: list[str] | None = Field(None, description="default: sex and age bands")

    @model_validator(mode="after")
    def _one_image_source(self) -> DiagnosisSpec:
        if len(self.images) > 1:
            raise ValueError("one image column is supported (images: {name: path_column})")
        if self.images and self.image_array:
            raise ValueError("give images (a path column) or image_array, not both")
        return self

    @model_validator(mode="after")
    def _metric_ranks(self) -> DiagnosisSpec:
        if self.evaluation.metric not in ("auc", *CLINICAL_METRICS):  # auc: auroc
            raise ValueError(
                f"evaluation.metric {self.evaluation.metric!r} cannot rank the models; use "
                f"one of {', '.join(CLINICAL_METRICS)}"
            )
        return self

    @model_validator(mode="after")
    def _no_cost_section(self, info: ValidationInfo) -> DiagnosisSpec:
        if self.cost is not None and _user_spec(info):
            missed = self.cost.false_negative - self.cost.true_positive
            alarm = self.cost.false_positive - self.cost.true_negative
            ratio = f"{missed / alarm:g}" if missed > 0 and alarm > 0 else "N"
            raise ValueError(
                "cost is not used by the diagnosis solution: its decision threshold comes from "
                f"operating_point; for a cost trade-off set operating_point: {{cost_ratio: "
                f"{ratio}}} (a missed case costs that many false alarms) and remove cost"
            )
        return self


SPEC = DiagnosisSpec
METRICS = (*CLINICAL_METRICS, "fit_seconds", "predict_ms_per_1000")
HEADLINE = "auroc"
BOARD_COLUMNS = {
    "model": "model",
    "modality": "uses",
    "auroc": "AUROC",
    "auroc_ci": "95% CI",
    "auprc": "AUPRC",
    "sensitivity": "sens",
    "specificity": "spec",
    "ppv": "PPV",
    "npv": "NPV",
    "ece": "ECE",
    "fit_seconds": "fit s",
}
COMMANDS: tuple = ()
DEFAULTS: dict[str, Any] = {
    "models": [],  # empty: the solution's default candidates for the data's modalities
    "evaluation": {"protocol": "kfold", "folds": 5, "seed": 0, "metric": "auroc"},
    "ensemble": True,
}
DEFAULT_TABULAR = ("logistic", "lightgbm", "ft_transformer")


# ------------------------------------------------------------------ init
def init_template(name: str, options: dict[str, Any]) -> str:
    """A commented ``tailorkit.yaml`` for a diagnosis project."""
    require_options("diagnosis", options, "data", "target")
    lines = [
        "# tailorkit project spec. Check it with `tailorkit validate --show`, train with "
        "`tailorkit run`.",
        f"name: {name}",
        "solution: diagnosis",
        "",
        "data:",
        f"  train: {options['data']}        # CSV, Parquet, JSON lines, Excel or a SQL URL",
        "  # key: record_id          # copied into predictions",
        f"target: {options['target']}",
        "# positive_label: 1          # the value meaning 'has the disease'",
    ]
    patient = options.get("patient_col")
    lines.append(
        f"patient: {patient}          # rows of one patient never span folds"
        if patient
        else "# patient: patient_id       # set when a patient has several rows"
    )
    texts = options.get("text") or []
    lines.append(
        f"text: [{', '.join(texts)}]"
        if texts
        else "# text: [note]              # clinical note columns"
    )
    lines.append("text_model: {mode: frozen, max_length: 256}   # frozen | finetune | lora")
    images = options.get("image") or []
    if images:
        name_, _, column = images[0].partition("=")
        lines.append(
            f"images: {{{name_}: {column or name_}}}     # image name: column of file paths"
        )
    else:
        lines.append("# images: {xray: xray_path}  # or image_array: images.npy (one per row)")
    if options.get("visits"):
        if not (options.get("patient_col") and options.get("time_col")):
            raise SpecError("tailorkit init diagnosis --visits needs --patient-col and --time-col")
        lines += [
            "visits:",
            f"  file: {options['visits']}",
            f"  patient_col: {options['patient_col']}",
            f"  time_col: {options['time_col']}",
        ]
    lines += [
        "",
        "operating_point: {sensitivity: 0.90}   # or {specificity: 0.95} or {cost_ratio: 10}",
        "# prevalence: 0.05          # PPV/NPV at this prevalence (default: the data's)",
        "recalibration: none          # none | platt | isotonic (fitted inside folds)",
        "# subgroups: [sex, age]     # default: sex and age bands when present",
        "evaluation: {protocol: kfold, folds: 5, seed: 0}",
        "requirements:",
        "  - auroc >= 0.75",
        "  # - specificity >= 0.5",
    ]
    return "\n".join(lines) + "\n"


DEMO_SPEC = """\
# tailorkit demo: diagnosis on the real Wisconsin diagnostic breast cancer data (569 fine-
# needle aspirates, shipped inside scikit-learn; UCI, CC BY 4.0). Edit and re-run.
name: breast-cancer
solution: diagnosis
data:
  train: patients.csv
  key: record_id
target: diagnosis
positive_label: malignant
models: [logistic, lightgbm]
operating_point: {sensitivity: 0.95}
prevalence: 0.05               # PPV/NPV as in a screening population, not this sample
recalibration: platt
evaluation: {protocol: kfold, folds: 5, seed: 0, bootstrap: 500}
requirements:
  - auroc >= 0.95
  - specificity >= 0.80
"""


def demo_project(folder: Path) -> tuple[Path, str]:
    """The demo: scikit-learn's bundled Wisconsin breast cancer data (real, offline)."""
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    frame = bunch.frame.rename(columns=lambda c: c.replace(" ", "_"))
    frame.insert(0, "record_id", [f"R{i:04d}" for i in range(len(frame))])
    frame["diagnosis"] = np.where(frame.pop("target") == 0, "malignant", "benign")
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / "patients.csv", index=False)
    spec = folder / "tailorkit.yaml"
    spec.write_text(DEMO_SPEC)
    return spec, "Wisconsin diagnostic breast cancer, 569 patients (scikit-learn)"


# ------------------------------------------------------------------ data
@dataclass
class PatientData:
    """Everything a run needs: the tabular view, all modalities, labels, groups."""

    tabular: Any  # TrainingData
    inputs: Any  # PatientInputs
    y: np.ndarray
    patients: np.ndarray | None
    subgroups: pd.DataFrame
    report: Any  # LoadReport
    visit_features: list[str] = field(default_factory=list)
    image_size: int | None = None


def modality_columns(spec: DiagnosisSpec) -> list[str]:
    columns = list(spec.text) + list(spec.images.values())
    return columns + ([spec.patient] if spec.patient else [])


def load_patient_data(spec: DiagnosisSpec, base_dir: Path) -> PatientData:
    """Read the table and every modality; rows without a target are left out."""
    from tailorkit.data.dataset import load_training_data
    from tailorkit.data.io import read_table, table_label
    from tailorkit.data.patients import LoadReport

    section = spec.data
    frame = read_table(
        section.train,
        table=section.table,
        query=section.query,
        sheet=section.sheet,
        encoding=section.encoding,
        base_dir=base_dir,
    )
    source = table_label(section.train, table=section.table, query=section.query)
    missing = [c for c in modality_columns(spec) if c not in frame.columns]
    if missing:
        raise SpecError(
            f"the spec names column(s) {', '.join(map(repr, missing))} that {source} does not "
            "have (fields text / images / patient)"
        )
    if spec.target not in frame.columns:
        raise DataError(f"{source}: target column '{spec.target}' not found")
    labeled = frame[spec.target].notna().to_numpy()
    report = LoadReport()
    if (~labeled).any():
        report.warnings.append(f"{(~labeled).sum()} rows have no '{spec.target}' and were left out")
    side = frame.loc[labeled, modality_columns(spec)].reset_index(drop=True)
    own = [c for c in modality_columns(spec) if c != spec.data.key]  # the key stays for data
    table = frame.drop(columns=own).loc[labeled].reset_index(drop=True)
    tabular = load_training_data(spec, base_dir, frame=table)
    inputs, sizes = build_inputs(spec, base_dir, tabular.X, side, report, labeled_rows=labeled)
    patients = side[spec.patient].astype(str).to_numpy() if spec.patient else None
    if patients is not None:
        repeated = len(patients) - len(set(patients))
        if repeated:
            report.warnings.append(
                f"{repeated} rows belong to patients with several rows: folds are grouped by "
                f"'{spec.patient}' so no patient spans training and validation"
            )
    return PatientData(
        tabular=tabular,
        inputs=inputs,
        y=tabular.y,
        patients=patients,
        subgroups=subgroup_columns(spec, table),
        report=report,
        visit_features=sizes.get("visit_features", []),
        image_size=sizes.get("image_size"),
    )


def build_inputs(
    spec: DiagnosisSpec,
    base_dir: Path,
    X: pd.DataFrame,
    side: pd.DataFrame,
    report,
    *,
    labeled_rows: np.ndarray | None = None,
    image_size: int | None = None,
    check_text: bool = True,
):
    """``PatientInputs`` for these rows (training or scoring) and what was learned."""
    from tailorkit.data.patients import (
        PatientInputs,
        check_notes,
        join_notes,
        load_image_array,
        load_image_column,
    )

    inputs = PatientInputs(tabular=X)
    found: dict[str, Any] = {}
    size = image_size or spec.image_model.size
    if spec.text:
        inputs.notes = join_notes(side, spec.text)
        if check_text:
            check_notes(inputs.notes, spec.text_model.encoder, spec.text_model.max_length, report)
    if spec.images:
        name, column = next(iter(spec.images.items()))
        inputs.images, inputs.image_present, found["image_size"] = load_image_column(
            side[column], base_dir=base_dir, column=name, size=size, report=report
        )
    elif spec.image_array:
        n_rows = len(labeled_rows) if labeled_rows is not None else len(X)
        images, present, found["image_size"] = load_image_array(
            spec.image_array, base_dir=base_dir, n_rows=n_rows, size=size, report=report
        )
        keep = labeled_rows if labeled_rows is not None else slice(None)
        inputs.images, inputs.image_present = images[keep], present[keep]
    if spec.visits:
        inputs.visits, inputs.visit_lengths, found["visit_features"] = _visits(
            spec, base_dir, side, X
        )
        none = int((inputs.visit_lengths == 0).sum())
        report.add(
            "rows_without_visits", none, f"{none} row(s) have no visits: history treated as missing"
        )
    return inputs, found


def _visits(spec: DiagnosisSpec, base_dir: Path, side: pd.DataFrame, X: pd.DataFrame):
    from tailorkit.data.io import read_table
    from tailorkit.data.patients import load_visit_sequences

    section = spec.visits
    link = spec.patient or section.patient_col
    if link in side.columns:
        patients = side[link]
    elif link in X.columns:
        patients = X[link]
    else:
        raise SpecError(
            f"field 'visits': the patient table needs the column '{link}' to link visits "
            "(set 'patient')"
        )
    visits = read_table(section.file, base_dir=base_dir)
    return load_visit_sequences(
        visits,
        patients,
        patient_col=section.patient_col,
        time_col=section.time_col,
        features=section.features,
        max_visits=section.max_visits,
        source=section.file,
    )


def subgroup_columns(spec: DiagnosisSpec, table: pd.DataFrame) -> pd.DataFrame:
    """Sex and age band (when such columns exist) or the spec's ``subgroups``, then the
    ``features.protected`` columns: each audited at the operating point."""
    from tailorkit.evaluate.clinical import age_band

    lower = {c.lower(): c for c in table.columns}
    names = spec.subgroups
    if names is None:
        names = [lower[n] for n in SEX_NAMES + AGE_NAMES if n in lower]
    names = list(dict.fromkeys([*names, *spec.features.protected]))
    out = {}
    for name in names:
        if name not in table.columns:
            raise SpecError(f"field 'subgroups' names column '{name}' that the data lacks")
        is_age = name.lower() in AGE_NAMES
        out[f"{name} band" if is_age else name] = age_band(table[name]) if is_age else table[name]
    return pd.DataFrame(out, index=table.index)


def describe_data(spec: DiagnosisSpec, base_dir: Path) -> tuple[list[str], str]:
    data = load_patient_data(spec, base_dir)
    summary = (
        f"data: {len(data.y)} labeled rows, {data.tabular.X.shape[1]} table features, "
        f"modalities {', '.join(data.inputs.modalities())}, positive rate {data.y.mean():.3f}"
    )
    return list(data.tabular.warnings) + data.report.warnings, summary


# -------------------------------------------------------------- candidates
@dataclass
class Candidate:
    name: str
    family: str
    modality: str  # tabular | text | image | visits | fusion
    params: dict[str, Any]

    def build(self):
        if self.modality == "tabular":
            from tailorkit.models import make_model

            return make_model(self.family, **self.params)
        from tailorkit.models.modality_base import modality_class

        return modality_class(self.family)(**self.params)


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
                from tailorkit.models import sized_params

                params = sized_params(entry.family, params, len(data.y))
            out.append(Candidate(entry.name, entry.family, "tabular", params))
            if entry.family == "ft_transformer" and spec.evaluation.pretraining_ablation:
                from tailorkit.pipeline import pretraining_twin

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
    if spec.evaluation.pretraining_ablation and not any(_is_twin(c) for c in out):
        raise SpecError(
            "field 'evaluation.pretraining_ablation' needs an ft_transformer candidate (the "
            "only model with pretraining); add it to models or remove the field"
        )
    return out


def _is_twin(candidate: Candidate) -> bool:
    """A pretraining-ablation twin: scored and reported, never blended or chosen."""
    from tailorkit.pipeline import _is_ablation

    return _is_ablation(candidate.name)


def blend_members(candidates: list[Candidate]) -> list[Candidate]:
    """The tabular candidates the ensemble blends."""
    return [
        c
        for c in candidates
        if c.modality == "tabular" and c.name != "ensemble" and not _is_twin(c)
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


# ------------------------------------------------------------------- run
def train(project, registry, run_id: int, say):
    """Cross-validated candidates per modality, clinical evaluation, refit, register, report."""
    from tailorkit.pipeline import RunResult
    from tailorkit.report.clinical_report import write_clinical_report

    spec: DiagnosisSpec = project.spec
    say("reading data")
    data = load_patient_data(spec, project.base_dir)
    for warning in data.report.warnings:
        say(f"warning: {warning}")
    evaluation = evaluate_candidates(spec, data, say)
    best = evaluation["best"]
    say(f"refitting {best['model']} on all {len(data.y)} rows")
    final, recalibration = refit_best(spec, data, evaluation)
    with tempfile.TemporaryDirectory() as folder:
        model_dir = Path(folder) / "artifact"
        save_artifact(model_dir, spec, project.base_dir, data, evaluation, final, recalibration)
        version = registry.register_model(
            spec.name,
            model_dir,
            family=best["family"],
            run_id=run_id,
            metrics={k: v for k, v in best["row"].items() if isinstance(v, (int, float))},
        )
    for row in evaluation["leaderboard"]:
        registry.log_metrics(
            run_id, row["model"], {k: v for k, v in row.items() if isinstance(v, (int, float))}
        )
    document = result_document(spec, run_id, version.version, data, evaluation, final)
    html_path, json_path = project.report_paths(run_id)
    write_clinical_report(document, html_path, json_path)
    return RunResult(
        leaderboard=pd.DataFrame(evaluation["leaderboard"]),
        best=best["model"],
        report_path=html_path,
        json_path=json_path,
        model_ref=f"{spec.name}:{version.version}",
        gates_passed=document["gates_passed"],
        promoted=False,
        requirements=document["requirements"],
        result=document,
        model=final,
    )


def make_fold_splits(spec: DiagnosisSpec, data: PatientData) -> list:
    from tailorkit.evaluate.clinical import patient_holdout, patient_splits

    evaluation = spec.evaluation
    if evaluation.protocol == "holdout":
        fraction = evaluation.holdout_fraction
        return patient_holdout(data.y, data.patients, fraction=fraction, seed=evaluation.seed)
    return patient_splits(data.y, data.patients, folds=evaluation.folds, seed=evaluation.seed)


def fold_workers_for(spec: DiagnosisSpec, n_splits: int) -> int:
    """Fold processes: ``evaluation.n_jobs`` (at most one per fold); unset, the folds run
    one after another in this process."""
    from tailorkit.evaluate.crossval import fold_workers

    n_jobs = spec.evaluation.n_jobs
    return fold_workers(n_jobs, n_splits) if n_jobs else 1


def evaluate_candidates(spec: DiagnosisSpec, data: PatientData, say) -> dict[str, Any]:
    """Out-of-fold predictions of every candidate, recalibrated if asked, and scored."""
    from tailorkit.evaluate.clinical import cross_fitted_recalibration
    from tailorkit.evaluate.crossval import cross_fitted_blend

    splits = make_fold_splits(spec, data)
    candidates = candidates_for(spec, data)
    oof: dict[str, np.ndarray] = {}
    timings: dict[str, tuple[float, float]] = {}
    with contextlib.ExitStack() as stack:
        executor = _fold_pool(stack, candidates, fold_workers_for(spec, len(splits)), say)
        for candidate in candidates:
            say(f"training {candidate.name}")
            oof[candidate.name], timings[candidate.name] = cross_validate_candidate(
                candidate, data, splits, say, executor
            )
    tabular = [c.name for c in blend_members(candidates)]
    if spec.ensemble and len(tabular) > 1:
        oof["ensemble"] = cross_fitted_blend(
            {n: oof[n] for n in tabular}, data.y, splits, spec.evaluation.seed
        )
        timings["ensemble"] = tuple(sum(timings[n][i] for n in tabular) for i in (0, 1))
        candidates.append(Candidate("ensemble", "ensemble", "tabular", {}))
    evaluated = _evaluated_rows(splits, len(data.y))
    raw = dict(oof)
    if spec.recalibration != "none":
        for name in oof:
            oof[name] = oof[name].copy()
            oof[name][evaluated] = cross_fitted_recalibration(
                spec.recalibration, data.y[evaluated], oof[name][evaluated], _local(splits)
            )
    say("scoring candidates")
    rows = [
        score_candidate(spec, c, data, oof[c.name], evaluated, splits, timings[c.name])
        for c in candidates
    ]
    metric = "auroc" if spec.evaluation.metric == "auc" else spec.evaluation.metric
    higher = metric not in ("brier", "ece")
    twins = {c.name for c in candidates if _is_twin(c)}
    rows.sort(
        key=lambda r: (
            r["model"] in twins,
            -(r.get(metric) or -1e9) if higher else (r.get(metric) or 1e9),
        )
    )
    best_row = rows[0]
    if best_row.get("threshold") is None:
        raise DataError(best_row["operating_point_error"])
    best = next(c for c in candidates if c.name == best_row["model"])
    return {
        "splits": splits,
        "evaluated": evaluated,
        "candidates": candidates,
        "oof": oof,
        "raw_oof": raw,
        "leaderboard": rows,
        "best": {"model": best.name, "family": best.family, "candidate": best, "row": best_row},
    }


def _evaluated_rows(splits, n: int) -> np.ndarray:
    seen = np.zeros(n, dtype=bool)
    for _, valid in splits:
        seen[valid] = True
    return np.flatnonzero(seen)


def _local(splits) -> list:
    """Splits re-indexed to the evaluated rows only (for cross-fitting on them); a single
    holdout is cut into two seeded halves that are fitted on each other."""
    evaluated = np.sort(np.concatenate([valid for _, valid in splits]))
    everything = np.arange(len(evaluated))
    if len(splits) == 1:
        shuffled = np.random.default_rng(0).permutation(everything)
        groups = [np.sort(shuffled[: len(shuffled) // 2]), np.sort(shuffled[len(shuffled) // 2 :])]
    else:
        position = {row: i for i, row in enumerate(evaluated)}
        groups = [np.array([position[r] for r in valid]) for _, valid in splits]
    return [(np.setdiff1d(everything, group), group) for group in groups]


def _fold_pool(stack: contextlib.ExitStack, candidates: list[Candidate], workers: int, say):
    """Worker processes for the folds (torch preloaded when a candidate is neural), or
    ``None`` for one worker."""
    from tailorkit.evaluate.crossval import fold_executor

    if workers < 2:
        return None
    neural = any(c.modality != "tabular" or c.family == "ft_transformer" for c in candidates)
    modules = (__name__, "torch") if neural else (__name__,)
    say(f"running the folds in {workers} worker processes")
    return stack.enter_context(fold_executor(workers, modules))


def cross_validate_candidate(candidate: Candidate, data: PatientData, splits, say, executor=None):
    """Out-of-fold probabilities (NaN for rows never validated) and timings; the folds run
    in ``executor``'s worker processes when one is given, else one after another here."""
    if executor is None:
        outcomes = (_fold_outcome(candidate, data, *split) for split in splits)
    else:
        futures = [executor.submit(_fold_outcome, candidate, data, *split) for split in splits]
        outcomes = (future.result() for future in futures)
    oof = np.full(len(data.y), np.nan)
    fit_seconds = predict_seconds = 0.0
    for fold, ((_, valid_rows), outcome) in enumerate(zip(splits, outcomes, strict=True), start=1):
        oof[valid_rows], fitting, predicting = outcome
        fit_seconds += fitting
        predict_seconds += predicting
        say(f"{candidate.name}: fold {fold}/{len(splits)}")
    n_predicted = sum(len(v) for _, v in splits)
    return oof, (fit_seconds, 1e6 * predict_seconds / max(n_predicted, 1))


def _fold_outcome(candidate: Candidate, data: PatientData, train_rows, valid_rows):
    """One fold: fit on the training rows, score the validation rows; returns (scores, fit
    seconds, predict seconds)."""
    started = time.perf_counter()
    model = fit_candidate(candidate, data, train_rows)
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    base_rate = float(data.y[train_rows].mean())
    scores = predict_candidate(candidate, model, data.inputs.take(valid_rows), base_rate)
    return scores, fit_seconds, time.perf_counter() - started


def score_candidate(spec, candidate, data, scores, evaluated, splits, timing) -> dict[str, Any]:
    """The leaderboard row: discrimination with CIs, calibration, the operating point."""
    from tailorkit.evaluate.clinical import (
        calibration,
        choose_threshold,
        discrimination,
        metrics_at,
        net_benefit,
    )

    y, p = data.y[evaluated], scores[evaluated]
    groups = None if data.patients is None else data.patients[evaluated]
    row: dict[str, Any] = {"model": candidate.name, "modality": candidate.modality}
    row.update(
        discrimination(
            y, p, n_boot=spec.evaluation.bootstrap, seed=spec.evaluation.seed, groups=groups
        )
    )
    fitted = calibration(y, p)
    row["brier"], row["ece"] = fitted["brier"], fitted["ece"]
    prevalence = spec.prevalence
    try:
        threshold = choose_threshold(
            y, p, spec.operating_point.policy(), model=f"model '{candidate.name}'"
        )
    except DataError as error:
        row["threshold"], row["operating_point_error"] = None, str(error)
    else:
        at = metrics_at(y, p, threshold, prevalence)
        row.update({k: at[k] for k in ("threshold", "sensitivity", "specificity", "ppv", "npv")})
        row.update(accuracy=at["accuracy"], f1=at["f1"])
        row["net_benefit"] = net_benefit(y, p, threshold) if threshold < 1 else None
    row["fit_seconds"] = round(timing[0], 3)
    row["predict_ms_per_1000"] = round(timing[1], 3)
    return row


# ------------------------------------------------------------ refit, save
def refit_best(spec: DiagnosisSpec, data: PatientData, evaluation: dict):
    """The best candidate refitted on every row, and its recalibration on all OOF scores."""
    from tailorkit.evaluate.clinical import fit_recalibration

    best: Candidate = evaluation["best"]["candidate"]
    all_rows = np.arange(len(data.y))
    if best.name == "ensemble":
        from tailorkit.models import make_model
        from tailorkit.models.ensemble import select_weights

        members = blend_members(evaluation["candidates"])
        raw = evaluation["raw_oof"]
        evaluated = evaluation["evaluated"]
        weights = select_weights(
            {c.name: raw[c.name][evaluated] for c in members}, data.y[evaluated]
        )
        described = [{"name": c.name, "family": c.family, "params": c.params} for c in members]
        final = make_model("ensemble", members=described, weights=weights)
        final.fit(
            data.inputs.tabular,
            data.y,
            schema=data.tabular.schema,
            X_unlabeled=data.tabular.X_unlabeled,
        )
    else:
        final = fit_candidate(best, data, all_rows)
    evaluated = evaluation["evaluated"]
    recalibration = fit_recalibration(
        spec.recalibration, evaluation["raw_oof"][best.name][evaluated], data.y[evaluated]
    )
    return final, recalibration


def save_artifact(folder: Path, spec, base_dir: Path, data, evaluation, final, recalibration):
    best = evaluation["best"]
    final.save(folder / MODEL_FOLDER)
    decision = {
        "project": spec.name,
        "solution": "diagnosis",
        "target": spec.target,
        "positive_label": data.tabular.positive_label,
        "model": best["model"],
        "family": best["family"],
        "modality": best["candidate"].modality,
        "threshold": best["row"]["threshold"],
        "operating_point": spec.operating_point.model_dump(exclude_none=True),
        "prevalence": spec.prevalence,
        "recalibration": recalibration,
        "base_rate": float(data.y.mean()),
        "key": spec.data.key,
        "columns": list(data.tabular.X.columns),
        "spec": spec.model_dump(mode="json"),
        "image_size": data.image_size,
        "base_dir": str(Path(base_dir).resolve()),
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    (folder / DECISION_FILE).write_text(json.dumps(decision, indent=1))


# ------------------------------------------------------------- document
def result_document(spec, run_id, version, data, evaluation, final) -> dict[str, Any]:
    """The run's result: leaderboard, operating point, calibration, decision curve,
    subgroups, modality comparison, example explanations, requirements."""
    from tailorkit.evaluate.clinical import (
        calibration,
        cross_fitted_operating_point,
        decision_curve,
        subgroup_table,
    )
    from tailorkit.evaluate.metrics import curves
    from tailorkit.gates import evaluate_requirements
    from tailorkit.pipeline import pretraining_ablation

    evaluated = evaluation["evaluated"]
    twins = {c.name for c in evaluation["candidates"] if _is_twin(c)}
    y = data.y[evaluated]
    best = evaluation["best"]
    p_best = evaluation["oof"][best["model"]][evaluated]
    threshold = best["row"]["threshold"]
    policy = spec.operating_point.policy()
    requirements = evaluate_requirements(
        spec.requirements, best["row"], [], "evaluation", known=METRICS
    )
    try:
        honest = cross_fitted_operating_point(
            y, p_best, _local(evaluation["splits"]), policy, spec.prevalence
        )
    except DataError as error:  # a fold's threshold could not be chosen on the others
        honest = {"error": str(error)}
    document: dict[str, Any] = {
        "project": spec.name,
        "solution": "diagnosis",
        "run_id": run_id,
        "model_version": version,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "protocol": protocol_description(spec, data, len(evaluation["splits"])),
        "data": {
            "rows": int(len(data.y)),
            "patients": None if data.patients is None else int(len(set(data.patients))),
            "table_features": int(data.tabular.X.shape[1]),
            "modalities": data.inputs.modalities(),
            "positive_rate": float(data.y.mean()),
            "positive_label": data.tabular.positive_label,
            "load_counts": data.report.counts,
        },
        "leaderboard": evaluation["leaderboard"],
        "best": best["model"],
        "operating_point": {
            "policy": policy.describe(),
            "chosen_on": "pooled out-of-fold predictions",
            "threshold": threshold,
            "prevalence": spec.prevalence or float(data.y.mean()),
            "prevalence_source": "spec" if spec.prevalence else "this sample",
            "at_threshold": {
                k: best["row"].get(k) for k in ("sensitivity", "specificity", "ppv", "npv")
            },
            "cross_fitted": honest,
        },
        "curves": {
            row["model"]: curves(y, evaluation["oof"][row["model"]][evaluated])
            for row in evaluation["leaderboard"]
        },
        "calibration": {
            "recalibration": spec.recalibration,
            "after": calibration(y, p_best),
            "before": calibration(y, evaluation["raw_oof"][best["model"]][evaluated]),
        },
        "decision_curve": decision_curve(y, p_best),
        "subgroups": {
            column: subgroup_table(y, p_best, data.subgroups[column].iloc[evaluated], threshold)
            for column in data.subgroups.columns
        },
        "modality_comparison": modality_comparison(
            [r for r in evaluation["leaderboard"] if r["model"] not in twins]
        ),
        "requirements": requirements,
        "gates_passed": all(r["passed"] for r in requirements),
        "warnings": list(data.tabular.warnings) + data.report.warnings,
    }
    ablation = pretraining_ablation(evaluation["leaderboard"], auc="auroc")
    if ablation:
        document["ablation"] = {"pretraining": ablation}
    document["explanations"] = example_explanations(best["candidate"], final, data)
    return document


def protocol_description(spec: DiagnosisSpec, data: PatientData, n_splits: int) -> dict:
    evaluation = spec.evaluation
    grouped = data.patients is not None
    kind = "StratifiedGroupKFold by patient" if grouped else "StratifiedKFold"
    unit = "patients" if grouped else "rows"
    text = (
        f"{kind} ({evaluation.folds} folds, shuffled, seed {evaluation.seed})"
        if evaluation.protocol == "kfold"
        else f"stratified holdout of {evaluation.holdout_fraction:.0%} of the {unit} "
        f"(seed {evaluation.seed})"
    )
    text += (
        "; every metric on pooled out-of-fold predictions; preprocessing fitted on training "
        "folds only; the operating point is chosen on the out-of-fold predictions (the "
        "'cross-fitted' rates choose it on the other folds, an honest estimate); 95% "
        "intervals by percentile bootstrap"
        + (" resampling whole patients" if grouped else " stratified by class")
    )
    if spec.recalibration != "none":
        text += (
            f"; {spec.recalibration} recalibration cross-fitted: the calibrator for each "
            "fold is fitted on the other folds' out-of-fold predictions"
        )
    workers = fold_workers_for(spec, n_splits)
    if workers > 1:
        text += f"; the folds ran in {workers} worker processes"
    return {
        "kind": evaluation.protocol,
        "folds": evaluation.folds,
        "seed": evaluation.seed,
        "grouped_by_patient": grouped,
        "fold_workers": workers,
        "description": text,
    }


def modality_comparison(rows: list[dict]) -> list[dict[str, Any]]:
    """Best AUROC per modality (table, note, image, visits, fusion)."""
    best: dict[str, dict] = {}
    for row in rows:
        current = best.get(row["modality"])
        if current is None or (row.get("auroc") or 0) > (current.get("auroc") or 0):
            best[row["modality"]] = row
    return [
        {"modality": m, "model": r["model"], "auroc": r.get("auroc"), "auroc_ci": r.get("auroc_ci")}
        for m, r in best.items()
    ]


def example_explanations(candidate: Candidate, model, data: PatientData, n: int = 5) -> list:
    sample = data.inputs.take(np.arange(min(n, len(data.y))))
    factors = top_factors(candidate.modality, model, sample, top=3)
    return [{"row": i + 1, "factors": f} for i, f in enumerate(factors)]


def top_factors(modality: str, model, inputs, top: int = 3) -> list[list[str]]:
    """Per row, the factors that raised the score most (tabular columns, modalities)."""
    if modality in ("text", "image", "visits"):
        name = f"[{modality}]"
        return [[name] for _ in range(inputs.n_rows)]
    try:
        frame = model.explain(inputs.tabular if modality == "tabular" else inputs)
    except NotImplementedError:
        return [[] for _ in range(inputs.n_rows)]
    values = frame.to_numpy()
    names = np.array(frame.columns)
    out = []
    for row in values:
        order = np.argsort(-row)[:top]
        out.append([str(names[j]) for j in order if row[j] > 0])
    return out


# --------------------------------------------------------------- predict
def predict_file(version, source: str, handle: IO[str], chunk_rows: int, warn) -> int:
    """Probability, decision at the operating point and top factors, streamed as CSV."""
    from tailorkit.data.io import iter_table_chunks
    from tailorkit.data.patients import LoadReport
    from tailorkit.evaluate.clinical import apply_recalibration

    decision = json.loads((version.path / DECISION_FILE).read_text())
    spec = DiagnosisSpec.model_validate(decision["spec"], context={"stored": True})
    model = load_final_model(version.path / MODEL_FOLDER, decision["family"])
    modality = decision["modality"]
    candidate_modality = "fusion" if modality == "fusion" else modality
    base_dir = Path(source).resolve().parent
    rows = 0
    for number, chunk in enumerate(iter_table_chunks(source, chunk_rows=chunk_rows)):
        chunk = chunk.reset_index(drop=True)
        missing = [
            c for c in decision["columns"] + modality_columns(spec) if c not in chunk.columns
        ]
        if missing:
            raise DataError(
                f"{source}: lacks column(s) {', '.join(map(repr, missing))} that model "
                f"{version.project}:{version.version} needs (empty values are allowed)"
            )
        report = LoadReport()
        inputs, _ = build_inputs(
            spec,
            base_dir,
            chunk[decision["columns"]],
            chunk[modality_columns(spec)],
            report,
            image_size=decision["image_size"],
        )
        if warn:
            for warning in report.warnings:
                warn(f"{source}: {warning}")
        candidate = Candidate(decision["model"], decision["family"], candidate_modality, {})
        probability = predict_candidate(candidate, model, inputs, decision["base_rate"])
        probability = apply_recalibration(decision["recalibration"], probability)
        out = pd.DataFrame(index=chunk.index)
        key = decision.get("key") or spec.patient
        if key and key in chunk.columns:
            out[key] = chunk[key]
        out["probability"] = np.round(probability, 6)
        out["decision"] = np.where(probability >= decision["threshold"], "positive", "negative")
        factors = top_factors(candidate_modality, model, inputs)
        for rank in range(3):
            out[f"factor_{rank + 1}"] = [f[rank] if len(f) > rank else "" for f in factors]
        out.to_csv(handle, header=number == 0, index=False)
        rows += len(out)
    return rows


def load_final_model(path: Path, family: str):
    if family in TABULAR_FAMILIES:
        from tailorkit.models import load_model

        return load_model(path)
    from tailorkit.models.modality_base import load_modality_model

    return load_modality_model(path)


# --------------------------------------------------------- fusion showcase
def fusion_comparison(
    n_patients: int = 600, random_state: int = 0, folds: int = 5, epochs: int = 30
) -> dict:
    """Simulated patients (table + note + image): fusion vs each single modality, run
    through the full diagnosis solution (5-fold pooled AUROC)."""
    from tailorkit.data.simulators.patients import write_patient_files
    from tailorkit.pipeline import Project

    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        write_patient_files(folder, n_patients, random_state=random_state)
        spec = {
            "name": "simulated-patients",
            "solution": "diagnosis",
            "data": {"train": "patients.csv"},
            "target": "disease",
            "patient": "patient_id",
            "text": ["note"],
            "text_model": {"max_length": 64},
            "images": {"xray": "xray"},
            "image_model": {"max_epochs": epochs},
            "fusion": {"max_epochs": epochs},
            "models": ["logistic", "text_classifier", "image_cnn", "fusion"],
            "evaluation": {"folds": folds, "seed": 0, "bootstrap": 500},
        }
        import yaml

        (folder / "tailorkit.yaml").write_text(yaml.safe_dump(spec))
        started = time.perf_counter()
        result = Project.from_yaml(folder / "tailorkit.yaml").run()
        seconds = time.perf_counter() - started
    board = {r["model"]: r for r in result.result["leaderboard"]}
    fusion = board["fusion"]["auroc"]
    singles = {m: board[m]["auroc"] for m in board if m != "fusion"}
    return {
        "data": f"simulated patients (tailorkit.data.simulators.patients), n={n_patients}, "
        "tabular + note + 24×24 image, ~5% empty notes and missing images; at most "
        f"{epochs} epochs for the CNN and the fusion model (CPU budget)",
        "auroc": {m: round(r["auroc"], 4) for m, r in board.items()},
        "auroc_ci": {m: r.get("auroc_ci") for m, r in board.items()},
        "fusion_beats_every_single_modality": all(fusion > v for v in singles.values()),
        "seconds": round(seconds, 1),
    }

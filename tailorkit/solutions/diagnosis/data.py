"""Reading a diagnosis project: the patient table and every modality (notes, images,
visits), the labels, patient groups and audited subgroups."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tailorkit.data.dataset import TrainingData, load_training_data, read_training_table
from tailorkit.data.io import read_table, table_label
from tailorkit.data.patients import (
    LoadReport,
    PatientInputs,
    check_notes,
    join_notes,
    load_image_array,
    load_image_column,
    load_visit_sequences,
)
from tailorkit.errors import DataError, SpecError
from tailorkit.evaluate.clinical import age_band
from tailorkit.models.text_classifier import count_truncated
from tailorkit.solutions.diagnosis.spec import AGE_NAMES, SEX_NAMES, DiagnosisSpec


@dataclass
class PatientData:
    """Everything a run needs: the tabular view, all modalities, labels, groups."""

    tabular: TrainingData
    inputs: PatientInputs
    y: np.ndarray
    patients: np.ndarray | None
    subgroups: pd.DataFrame
    report: LoadReport
    visit_features: list[str] = field(default_factory=list)
    image_size: int | None = None


def modality_columns(spec: DiagnosisSpec) -> list[str]:
    columns = list(spec.text) + list(spec.images.values())
    return columns + ([spec.patient] if spec.patient else [])


def load_patient_data(spec: DiagnosisSpec, base_dir: Path) -> PatientData:
    """Read the table and every modality; rows without a target are left out."""
    section = spec.data
    frame = read_training_table(section, base_dir)
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
    inputs = PatientInputs(tabular=X)
    found: dict[str, Any] = {}
    size = image_size or spec.image_model.size
    if spec.text:
        inputs.notes = join_notes(side, spec.text)
        if check_text:
            check_notes(inputs.notes, report)
            long = count_truncated(
                inputs.notes, spec.text_model.encoder, spec.text_model.max_length
            )
            report.add(
                "truncated_notes",
                long,
                f"{long} note(s) are longer than {spec.text_model.max_length} tokens and were "
                f"truncated to their first {spec.text_model.max_length} tokens "
                "(text_model.max_length)",
            )
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

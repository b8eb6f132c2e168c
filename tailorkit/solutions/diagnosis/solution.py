"""The diagnosis solution object: the contract's methods over this package's modules."""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any

from tailorkit.data.dataset import read_training_table
from tailorkit.data.io import read_table
from tailorkit.registry import ModelVersion
from tailorkit.report.clinical_report import write_clinical_report
from tailorkit.solutions.base import Evaluation, ProfileTable, RunContext, Say, Solution
from tailorkit.solutions.diagnosis import predict, templates, train
from tailorkit.solutions.diagnosis.data import load_patient_data
from tailorkit.solutions.diagnosis.serving import DiagnosisAdapter
from tailorkit.solutions.diagnosis.spec import DEFAULTS, METRICS, DiagnosisSpec


class Diagnosis(Solution):
    name = "diagnosis"
    spec_class = DiagnosisSpec
    defaults = DEFAULTS
    metrics = METRICS
    headline = "auroc"
    board_columns = {
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
    summary = "patients (table, notes, images, visits) -> probability at an operating point"

    def init_template(self, name: str, options: dict[str, Any]) -> str:
        return templates.init_template(name, options)

    def demo_project(self, folder: Path) -> tuple[Path, str]:
        return templates.demo_project(folder)

    def describe_data(self, spec: DiagnosisSpec, base_dir: Path) -> tuple[list[str], str]:
        data = load_patient_data(spec, base_dir)
        summary = (
            f"data: {len(data.y)} labeled rows, {data.tabular.X.shape[1]} table features, "
            f"modalities {', '.join(data.inputs.modalities())}, "
            f"positive rate {data.y.mean():.3f}"
        )
        return list(data.tabular.warnings) + data.report.warnings, summary

    def profile_tables(self, spec: DiagnosisSpec, base_dir: Path) -> list[ProfileTable]:
        section = spec.data
        frame = read_training_table(section, base_dir)
        tables = [ProfileTable(section.train, frame, target=spec.target, key=section.key)]
        if spec.visits:
            visits = read_table(spec.visits.file, base_dir=base_dir)
            tables.append(ProfileTable(spec.visits.file, visits, key=spec.visits.patient_col))
        return tables

    def fit_candidates(self, context: RunContext) -> Evaluation:
        return train.fit_candidates(context)

    def write_report(self, document: dict[str, Any], html_path: Path, json_path: Path) -> None:
        write_clinical_report(document, html_path, json_path)

    def predict_file(
        self, version: ModelVersion, source: str, handle: IO[str], *, chunk_rows: int, warn: Say
    ) -> int:
        """Probability, decision at the operating point and top factors, streamed as CSV."""
        return predict.predict_file(version, source, handle, chunk_rows, warn)

    def serving_adapter(self, version: ModelVersion) -> DiagnosisAdapter:
        return DiagnosisAdapter(version, self.name)


SOLUTION = Diagnosis()

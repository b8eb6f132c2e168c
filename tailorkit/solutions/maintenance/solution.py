"""The maintenance solution object: the contract's methods over this package's modules."""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any

from tailorkit.data.io import read_table
from tailorkit.errors import DataError
from tailorkit.registry import ModelVersion
from tailorkit.report.maintenance_report import write_maintenance_report
from tailorkit.solutions.base import Evaluation, ProfileTable, RunContext, Say, Solution
from tailorkit.solutions.maintenance import templates, train
from tailorkit.solutions.maintenance.bundle import MaintenanceBundle
from tailorkit.solutions.maintenance.data import load_fleet
from tailorkit.solutions.maintenance.serving import MaintenanceAdapter
from tailorkit.solutions.maintenance.spec import DEFAULTS, METRICS, MaintenanceSpec


class Maintenance(Solution):
    name = "maintenance"
    spec_class = MaintenanceSpec
    defaults = DEFAULTS
    metrics = METRICS
    headline = "rmse"
    headline_higher = False
    board_columns = {
        "model": "model",
        "rmse": "RMSE",
        "phm08_score": "PHM08",
        "rmse_all_windows": "RMSE all",
        "band_coverage": "band",
        "pr_auc": "PR-AUC",
        "f1": "F1",
        "fit_seconds": "fit s",
    }
    summary = "sensor streams + failures -> RUL band, failure within a horizon, when to maintain"

    def init_template(self, name: str, options: dict[str, Any]) -> str:
        return templates.init_template(name, options)

    def demo_project(self, folder: Path) -> tuple[Path, str]:
        return templates.demo_project(folder)

    def describe_data(self, spec: MaintenanceSpec, base_dir: Path) -> tuple[list[str], str]:
        fleet = load_fleet(spec, base_dir)
        summary = fleet.summary()
        text = (
            f"data: {summary['rows']} readings, {summary['assets']} assets, "
            f"{summary['failed_lives']} lives ending in failure, {summary['sensors']} sensors"
        )
        return fleet.warnings, text

    def profile_tables(self, spec: MaintenanceSpec, base_dir: Path) -> list[ProfileTable]:
        data = spec.data
        sensors = read_table(
            data.sensors, table=data.table, base_dir=base_dir, encoding=data.encoding
        )
        tables = [ProfileTable(data.sensors, sensors, key=data.asset)]
        if data.failures:
            failures = read_table(data.failures, base_dir=base_dir, encoding=data.encoding)
            tables.append(ProfileTable(data.failures, failures, key=data.asset))
        return tables

    def fit_candidates(self, context: RunContext) -> Evaluation:
        return train.fit_candidates(context)

    def write_report(self, document: dict[str, Any], html_path: Path, json_path: Path) -> None:
        write_maintenance_report(document, html_path, json_path)

    def predict_file(
        self, version: ModelVersion, source: str, handle: IO[str], *, chunk_rows: int, warn: Say
    ) -> int:
        """One row per asset at its last reading: RUL band, failure probability, anomaly,
        when to maintain."""
        bundle = MaintenanceBundle.from_version(version)
        frame = read_table(source, base_dir=Path.cwd())
        try:
            forecast, warnings = bundle.forecast_assets(frame, source)
        except DataError as error:
            message = str(error)
            raise DataError(
                message if message.startswith(source) else f"{source}: {message}"
            ) from None
        for warning in warnings:
            warn(warning)
        forecast.to_csv(handle, index=False)
        return len(forecast)

    def serving_adapter(self, version: ModelVersion) -> MaintenanceAdapter:
        return MaintenanceAdapter(version, self.name)


SOLUTION = Maintenance()

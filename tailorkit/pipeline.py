"""The run loop, once for every solution: candidates -> evaluation -> gates -> registry ->
alias -> report. A solution trains and evaluates (``Solution.fit_candidates``); this module
does everything after, the same way for all of them."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from tailorkit.errors import RegistryError
from tailorkit.gates import evaluate_requirements, promotion_floor
from tailorkit.registry import Registry
from tailorkit.solutions import get_solution
from tailorkit.solutions.base import Evaluation, RunContext, Say
from tailorkit.solutions.specs import load_spec
from tailorkit.spec import SpecBase


@dataclass
class RunResult:
    """What ``Project.run`` returns: the leaderboard, the winner, where the report is."""

    leaderboard: pd.DataFrame
    best: str
    report_path: Path
    json_path: Path
    model_ref: str | None
    gates_passed: bool
    promoted: bool
    requirements: list[dict[str, Any]] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)  # the report's content
    model: Any = None  # the registered model, fitted on all rows (when in memory)


class Project:
    """A spec plus the folder it lives in; ``run`` executes the whole loop once."""

    def __init__(
        self, spec: SpecBase, *, base_dir: str | Path = ".", workspace: str | Path | None = None
    ):
        self.spec = spec
        self.base_dir = Path(base_dir)
        self.workspace = Path(workspace) if workspace else self.base_dir / spec.workspace

    @classmethod
    def from_yaml(
        cls,
        path: str | Path = "tailorkit.yaml",
        *,
        overrides: list[str] | None = None,
        workspace: str | Path | None = None,
    ) -> Project:
        spec, _ = load_spec(path, overrides)
        return cls(spec, base_dir=Path(path).resolve().parent, workspace=workspace)

    @property
    def registry(self) -> Registry:
        return Registry(self.workspace)

    def report_paths(self, run_id: int) -> tuple[Path, Path]:
        """Where a run's ``report.html`` and ``report.json`` go (the folder is created)."""
        folder = self.workspace / "reports" / self.spec.name / f"run-{run_id}"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / "report.html", folder / "report.json"

    def run(self, *, progress: Say | None = None) -> RunResult:
        """Train every candidate, evaluate honestly, check gates, register, report."""
        spec = self.spec
        solution = get_solution(spec.solution)
        registry = self.registry
        registry.ensure_project(spec.name, spec.solution)
        run_id = registry.start_run(spec.name, spec.model_dump(mode="json"))
        try:
            result = self._run(solution, registry, run_id, progress or (lambda message: None))
        except BaseException:
            registry.finish_run(run_id, status="failed")
            raise
        registry.finish_run(
            run_id,
            status="succeeded",
            summary=_summary(result, solution.headline),
            report_path=str(result.report_path),
        )
        return result

    def _run(self, solution, registry: Registry, run_id: int, say: Say) -> RunResult:
        spec = self.spec
        with tempfile.TemporaryDirectory() as folder:
            context = RunContext(spec, self.base_dir, run_id, Path(folder) / "model", say)
            evaluation = solution.fit_candidates(context)
            requirements = evaluate_requirements(
                spec.requirements,
                evaluation.gate_metrics,
                evaluation.fairness,
                known=solution.metrics,
                measured_on_final=evaluation.measured_on_final,
            )
            requirements += self._floor(solution, evaluation, registry)
            gates_passed = all(r["passed"] for r in requirements)
            version = registry.register_model(
                spec.name,
                context.artifact_dir,
                family=evaluation.family,
                run_id=run_id,
                metrics=_numbers(evaluation.gate_metrics),
            )
        for row in evaluation.leaderboard:
            registry.log_metrics(run_id, row["model"], _numbers(row))
        document = self._document(evaluation, run_id, version.version, requirements, gates_passed)
        html_path, json_path = self.report_paths(run_id)
        solution.write_report(document, html_path, json_path)
        if gates_passed:
            registry.set_alias(
                spec.name,
                "champion",
                version.version,
                reason=f"run {run_id}: all requirements passed",
            )
        return RunResult(
            leaderboard=pd.DataFrame(evaluation.leaderboard),
            best=evaluation.best,
            report_path=html_path,
            json_path=json_path,
            model_ref=f"{spec.name}:{version.version}",
            gates_passed=gates_passed,
            promoted=gates_passed,
            requirements=requirements,
            result=document,
            model=evaluation.model,
        )

    def _floor(self, solution, evaluation: Evaluation, registry: Registry) -> list[dict]:
        """The promotion floor: beat the trivial baseline, do not fall behind the champion
        beyond the noise (each off only when the spec's ``promotion`` section says so)."""
        spec, metric = self.spec, solution.headline
        champion = None
        if spec.promotion.no_regression:
            try:
                current = registry.resolve(f"{spec.name}@champion")
            except RegistryError:  # no champion yet
                current = None
            if current is not None:
                champion = (f"{spec.name}:{current.version}", current.metrics.get(metric))
        metrics = evaluation.gate_metrics
        return promotion_floor(
            metric=metric,
            higher=solution.headline_higher,
            value=metrics.get(metric),
            interval=metrics.get(f"{metric}_ci"),
            baseline=evaluation.baseline if spec.promotion.beat_baseline else None,
            champion=champion,
        )

    def _document(self, evaluation: Evaluation, run_id, version, requirements, gates_passed):
        """The report's content: the run's identity, the solution's document, the gates."""
        document = {
            "project": self.spec.name,
            "solution": self.spec.solution,
            "run_id": run_id,
            "model_version": version,
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "leaderboard": evaluation.leaderboard,
            "best": evaluation.best,
            **evaluation.document,
            "requirements": requirements,
            "gates_passed": gates_passed,
            "promoted": gates_passed,
        }
        return document


def _numbers(row: dict[str, Any]) -> dict[str, float]:
    return {k: v for k, v in row.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _summary(result: RunResult, headline: str) -> dict[str, Any]:
    best_row = result.leaderboard.iloc[0].to_dict()
    return {
        "best": result.best,
        headline: best_row.get(headline),
        "model_ref": result.model_ref,
        "gates_passed": result.gates_passed,
        "promoted": result.promoted,
    }

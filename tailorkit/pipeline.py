"""One run of the loop: data -> candidates -> cross-validation -> gates -> registry -> report."""

from __future__ import annotations

import contextlib
import json
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone

from tailorkit.data.dataset import TrainingData, load_training_data
from tailorkit.evaluate.crossval import (
    CandidateResult,
    FoldJobs,
    cross_fitted_blend,
    cross_validate,
    fold_executor,
    fold_workers,
    make_splits,
)
from tailorkit.evaluate.fairness import group_fairness
from tailorkit.evaluate.metrics import binary_metrics, bootstrap_ci, curves
from tailorkit.evaluate.threshold import CostMatrix, bayes_threshold, best_threshold
from tailorkit.gates import evaluate_requirements
from tailorkit.models import (
    FAMILY_CLASSES,
    PARALLEL_FOLD_FAMILIES,
    TabularModel,
    make_model,
    sized_params,
)
from tailorkit.models.ensemble import select_weights
from tailorkit.predict import DECISION_FILE  # noqa: E402
from tailorkit.registry import Registry
from tailorkit.report.run_report import write_run_report
from tailorkit.solutions import get_solution
from tailorkit.spec import SpecBase, load_spec

ABLATION_SUFFIXES = {False: " (no pretraining)", True: " (with pretraining)"}


def _is_ablation(name: str) -> bool:
    return name.endswith(tuple(ABLATION_SUFFIXES.values()))


def pretraining_twin(
    name: str, params: dict[str, Any], unlabeled: bool
) -> tuple[str, dict[str, Any]]:
    """An FT-Transformer candidate's ablation twin: its name and params with pretraining
    flipped (``pretrain`` unset means on only when ``unlabeled`` rows are given)."""
    main = params.get("pretrain")
    main = unlabeled if main is None else bool(main)
    return name + ABLATION_SUFFIXES[not main], {**params, "pretrain": not main}


def pretraining_ablation(rows: list[dict], auc: str = "auc") -> dict[str, Any] | None:
    """The first candidate with a pretraining twin: AUC (the rows' key ``auc``), its
    interval, fold spread and fit time with and without pretraining."""
    by_name = {r["model"]: r for r in rows}
    keep = {
        "auc": auc,
        "auc_ci": f"{auc}_ci",
        "fold_auc_mean": "fold_auc_mean",
        "fold_auc_std": "fold_auc_std",
        "fit_seconds": "fit_seconds",
    }
    for name, row in by_name.items():
        for twin_pretrains, suffix in ABLATION_SUFFIXES.items():
            twin = by_name.get(name + suffix)
            if twin:
                pretrained, plain = (twin, row) if twin_pretrains else (row, twin)
                return {
                    "model": name,
                    "with": {k: pretrained.get(v) for k, v in keep.items()},
                    "without": {k: plain.get(v) for k, v in keep.items()},
                    "delta_auc": pretrained[auc] - plain[auc],
                }
    return None


Progress = Callable[[str], None]


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
    result: dict[str, Any] = field(default_factory=dict)
    model: TabularModel | None = None  # the registered model, fitted on all rows


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

    # ------------------------------------------------------------------ run
    def run(self, *, progress: Progress | None = None) -> RunResult:
        """Train every candidate, evaluate honestly, check gates, register, report."""
        say = progress or (lambda message: None)
        spec = self.spec
        registry = self.registry
        registry.ensure_project(spec.name, spec.solution)
        run_id = registry.start_run(spec.name, spec.model_dump(mode="json"))
        try:
            result = get_solution(spec.solution).train(self, registry, run_id, say)
        except BaseException:
            registry.finish_run(run_id, status="failed")
            raise
        promoted = False
        if result.gates_passed:
            version = int(result.model_ref.rsplit(":", 1)[1])
            registry.set_alias(
                spec.name, "champion", version, reason=f"run {run_id}: all requirements passed"
            )
            promoted = True
        result.promoted = promoted
        result.result["promoted"] = promoted
        registry.finish_run(
            run_id,
            status="succeeded",
            summary=_summary(result),
            report_path=str(result.report_path),
        )
        return result

    def run_tabular(self, registry: Registry, run_id: int, say: Progress) -> RunResult:
        """The tabular binary-classification run (credit risk)."""
        spec = self.spec
        evaluation = spec.evaluation
        with contextlib.ExitStack() as stack:
            executor = self._fold_pool(stack)  # workers import torch while the data is read
            say("reading data")
            data = load_training_data(spec, self.base_dir)
            splits = make_splits(
                data.y,
                protocol=evaluation.protocol,
                folds=evaluation.folds,
                holdout_fraction=evaluation.holdout_fraction,
                seed=evaluation.seed,
            )
            candidates = self._candidates(len(data.y))
            results = self._cross_validate_all(candidates, data, splits, say, executor)
        eligible = [n for n in results if not _is_ablation(n)]
        if spec.ensemble and len(eligible) > 1:
            oof = {n: results[n].oof for n in eligible}
            blended = cross_fitted_blend(oof, data.y, splits, evaluation.seed)
            results["ensemble"] = CandidateResult(
                name="ensemble",
                oof=blended,
                fold_auc=_fold_aucs(blended, data.y, splits),
                fit_seconds=sum(results[n].fit_seconds for n in eligible),
                predict_ms_per_1000=sum(results[n].predict_ms_per_1000 for n in eligible),
            )
            eligible.append("ensemble")
        say("scoring candidates")
        cost = CostMatrix(**spec.cost.model_dump()) if spec.cost else None
        threshold = bayes_threshold(cost) if cost else 0.5
        rows = [self._leaderboard_row(r, data.y, threshold, cost) for r in results.values()]
        metric = evaluation.metric
        higher = metric not in ("brier", "log_loss", "cost")
        rows.sort(
            key=lambda r: (
                r["model"] not in eligible,
                -(r[metric] or -1e9) if higher else (r[metric] or 1e9),
            )
        )
        best = rows[0]["model"]
        best_oof = results[best].oof
        fairness = self._fairness(data, best_oof, threshold)
        requirements = evaluate_requirements(spec.requirements, rows[0], fairness, "evaluation")

        say(f"refitting {best} on all {len(data.y)} rows")
        final = self._final_model(best, candidates, results, data)
        latency = _single_row_latency_ms(final, data.X)
        rows[0]["p99_latency_ms"] = latency
        requirements = [r for r in requirements if r["metric"] != "p99_latency_ms"]
        requirements += evaluate_requirements(
            [line for line in spec.requirements if line.strip().startswith("p99_latency_ms")],
            rows[0],
            fairness,
            "before promotion",
        )
        gates_passed = all(r["passed"] for r in requirements)

        with tempfile.TemporaryDirectory() as folder:
            model_dir = final.save(Path(folder) / "model")
            decision = self._decision(data, threshold, cost, final)
            (model_dir / DECISION_FILE).write_text(json.dumps(decision, indent=1))
            version = registry.register_model(
                spec.name,
                model_dir,
                family=final.family,
                run_id=run_id,
                metrics={k: v for k, v in rows[0].items() if isinstance(v, (int, float))},
            )
        for row in rows:
            registry.log_metrics(
                run_id, row["model"], {k: v for k, v in row.items() if isinstance(v, (int, float))}
            )

        result = self._result_document(
            run_id,
            version.version,
            data,
            rows,
            best,
            results,
            threshold,
            cost,
            fairness,
            requirements,
            gates_passed,
            final,
        )
        html_path, json_path = self.report_paths(run_id)
        write_run_report(result, html_path, json_path)
        return RunResult(
            leaderboard=pd.DataFrame(rows),
            best=best,
            report_path=html_path,
            json_path=json_path,
            model_ref=f"{spec.name}:{version.version}",
            gates_passed=gates_passed,
            promoted=False,
            requirements=requirements,
            result=result,
            model=final,
        )

    # --------------------------------------------------------------- parts
    def _candidates(self, n_rows: int) -> dict[str, TabularModel]:
        """The spec's models, their size-dependent defaults settled for ``n_rows`` rows."""
        seed = self.spec.evaluation.seed
        candidates: dict[str, TabularModel] = {}
        for entry in self.spec.model_entries():
            params = sized_params(entry.family, {"random_state": seed, **entry.params}, n_rows)
            candidates[entry.name] = make_model(entry.family, **params)
            if entry.family == "ft_transformer" and self.spec.evaluation.pretraining_ablation:
                twin, twin_params = pretraining_twin(
                    entry.name, params, bool(self.spec.data.unlabeled)
                )
                candidates[twin] = make_model(entry.family, **twin_params)
        return candidates

    def _leaderboard_row(
        self, result: CandidateResult, y: np.ndarray, threshold: float, cost: CostMatrix | None
    ) -> dict[str, Any]:
        from tailorkit.evaluate.metrics import fold_summary
        from tailorkit.evaluate.threshold import expected_cost

        seen = ~np.isnan(result.oof)
        y_seen, p_seen = y[seen], result.oof[seen]
        row: dict[str, Any] = {"model": result.name, **binary_metrics(y_seen, p_seen, threshold)}
        n_boot = self.spec.evaluation.bootstrap
        if n_boot:
            row["auc_ci"] = list(
                bootstrap_ci(
                    y_seen, p_seen, "auc", n_boot=n_boot, random_state=self.spec.evaluation.seed
                )
            )
        summary = fold_summary(result.fold_auc)
        row["fold_auc_mean"], row["fold_auc_std"] = summary["mean"], summary["std"]
        if cost:
            row["cost"] = expected_cost(y_seen, p_seen, threshold, cost)
        row["fit_seconds"] = round(result.fit_seconds, 3)
        row["predict_ms_per_1000"] = round(result.predict_ms_per_1000, 3)
        return row

    def _fairness(self, data: TrainingData, scores: np.ndarray, threshold: float) -> list[dict]:
        seen = ~np.isnan(scores)
        return [
            group_fairness(
                data.y[seen], scores[seen], data.protected[column][seen], threshold=threshold
            )
            for column in data.protected.columns
        ]

    def _fold_pool(self, stack: contextlib.ExitStack) -> Executor | None:
        """Worker processes for the candidates with ``parallel_folds`` (one per core, at
        most one per fold), started now so that they import their modules meanwhile; ``None``
        when no candidate needs them or there is one core or one split."""
        evaluation = self.spec.evaluation
        n_splits = evaluation.folds if evaluation.protocol == "kfold" else 1
        workers = fold_workers(evaluation.n_jobs, n_splits)
        families = {e.family for e in self.spec.model_entries()} & set(PARALLEL_FOLD_FAMILIES)
        modules = tuple(
            sorted({FAMILY_CLASSES[f][0] for f in families})
            + sorted({m for f in families for m in PARALLEL_FOLD_FAMILIES[f]})
        )
        if not modules or workers < 2:
            return None
        return stack.enter_context(fold_executor(workers, modules))

    def _cross_validate_all(
        self,
        candidates: dict[str, TabularModel],
        data: TrainingData,
        splits: list[tuple[np.ndarray, np.ndarray]],
        say: Progress,
        executor: Executor | None,
    ) -> dict[str, CandidateResult]:
        """Every candidate's out-of-fold predictions. Candidates with ``parallel_folds`` run
        in the ``executor``'s worker processes, submitted first; the others train here
        meanwhile and are then fitted on all rows while the workers finish."""
        results: dict[str, CandidateResult] = {}
        workers = fold_workers(self.spec.evaluation.n_jobs, len(splits))
        rows = (data.X, data.y, splits)
        known = {"schema": data.schema, "X_unlabeled": data.X_unlabeled}
        with contextlib.ExitStack() as stack:
            pending: dict[str, FoldJobs] = {}
            if executor is not None:  # workers load torch while others train
                refits = Path(stack.enter_context(tempfile.TemporaryDirectory()))
                for number, (name, model) in enumerate(candidates.items()):
                    if model.parallel_folds:  # start now, run while the others train
                        say(f"starting {name} in {workers} worker processes")
                        refit_dir = None if _is_ablation(name) else refits / str(number)
                        pending[name] = FoldJobs(
                            name, model, *rows, executor=executor, refit_dir=refit_dir, **known
                        )
            if pending:  # the workers hold the cores: one BLAS thread here meanwhile
                from threadpoolctl import threadpool_limits

                stack.enter_context(threadpool_limits(1))
            for name, model in candidates.items():
                if name not in pending:
                    say(f"training {name}")
                    results[name] = cross_validate(name, model, *rows, progress=say, **known)
            if pending:  # this process would only wait: fit its candidates on all rows now
                for name in [n for n in results if not _is_ablation(n)]:
                    say(f"refitting {name} on all rows while the workers train")
                    refit = clone(candidates[name]).fit(*rows[:2], **known)
                    refit.importances_ = refit.importances_  # lazy ones (TreeSHAP): now, not later
                    results[name].refit = refit
            for name, jobs in pending.items():
                say(f"waiting for {name}")
                results[name] = jobs.result(say)
        return {name: results[name] for name in candidates}  # the spec's order

    def _final_model(
        self,
        best: str,
        candidates: dict[str, TabularModel],
        results: dict[str, CandidateResult],
        data: TrainingData,
    ) -> TabularModel:
        ready = {n: r.refit for n, r in results.items() if r.refit is not None}
        if best in ready:
            return ready[best]
        if best == "ensemble":
            eligible = [n for n in candidates if not _is_ablation(n)]
            weights = select_weights({n: results[n].oof for n in eligible}, data.y)
            members = [
                {
                    "name": n,
                    "family": candidates[n].family,
                    "params": candidates[n].get_params(deep=False),
                }
                for n in eligible
            ]
            return make_model("ensemble", members=members, weights=weights).fit(
                data.X, data.y, schema=data.schema, X_unlabeled=data.X_unlabeled, ready=ready
            )
        model = clone(candidates[best])
        return model.fit(data.X, data.y, schema=data.schema, X_unlabeled=data.X_unlabeled)

    def _decision(
        self, data: TrainingData, threshold: float, cost: CostMatrix | None, model: TabularModel
    ) -> dict[str, Any]:
        return {
            "project": self.spec.name,
            "solution": self.spec.solution,
            "target": self.spec.target,
            "positive_label": data.positive_label,
            "threshold": threshold,
            "cost": cost.__dict__ if cost else None,
            "key": self.spec.data.key,
            "columns": list(data.X.columns),
            "dropped_columns": list(data.dropped),
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }

    def _result_document(
        self,
        run_id,
        version,
        data,
        rows,
        best,
        results,
        threshold,
        cost,
        fairness,
        requirements,
        gates_passed,
        final,
    ) -> dict[str, Any]:
        spec = self.spec
        evaluation = spec.evaluation
        if evaluation.protocol == "kfold":
            protocol = (
                f"Stratified {evaluation.folds}-fold cross-validation (shuffled, seed "
                f"{evaluation.seed}); every metric is computed on the pooled out-of-fold "
                "predictions; preprocessing is fitted on training folds only; the "
                "ensemble's weights for each fold are chosen on the other folds."
            )
        else:
            protocol = (
                f"Stratified holdout of {evaluation.holdout_fraction:.0%} (seed "
                f"{evaluation.seed}); metrics on the holdout rows only."
            )
        scored = [r for r in rows if r["model"] in results]
        document: dict[str, Any] = {
            "project": spec.name,
            "solution": spec.solution,
            "run_id": run_id,
            "model_version": version,
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "protocol": {
                "kind": evaluation.protocol,
                "folds": evaluation.folds,
                "seed": evaluation.seed,
                "stratified": True,
                "description": protocol,
            },
            "data": {
                "source": data.source,
                "rows": int(len(data.y)),
                "features": int(data.X.shape[1]),
                "target": spec.target,
                "positive_rate": float(data.y.mean()),
                "positive_label": data.positive_label,
                "dropped_columns": list(data.dropped),
                "protected": list(spec.features.protected),
                "excluded_from_model": [
                    c for c, why in data.dropped.items() if why.startswith("is protected")
                ],
                "unlabeled_rows": 0 if data.X_unlabeled is None else len(data.X_unlabeled),
            },
            "leaderboard": scored,
            "best": best,
            "curves": {
                r["model"]: curves(
                    data.y[~np.isnan(results[r["model"]].oof)],
                    results[r["model"]].oof[~np.isnan(results[r["model"]].oof)],
                )
                for r in scored
            },
            "fairness": fairness,
            "requirements": requirements,
            "gates_passed": gates_passed,
            "warnings": data.warnings,
        }
        if cost:
            seen = ~np.isnan(results[best].oof)
            found = best_threshold(data.y[seen], results[best].oof[seen], cost)
            document["threshold"] = {
                "chosen": threshold,
                "method": "bayes (minimum expected cost for calibrated probabilities)",
                "cost_matrix": cost.__dict__,
                "cost_at_chosen": found["bayes_cost"],
                "cost_reject_all": found["reject_all_cost"],
                "cost_accept_all": found["accept_all_cost"],
                "empirical_best": found["empirical_threshold"],
                "cost_at_empirical_best": found["empirical_cost"],
                "cost_curve": found["cost_curve"],
            }
        document.update(self._explanations(final, data))
        ablation = pretraining_ablation(rows)
        if ablation:
            document["ablation"] = {"pretraining": ablation}
        if isinstance(getattr(final, "weights", None), dict):
            document["ensemble"] = {
                "weights": final.weights,
                "method": "greedy forward selection with replacement (Caruana et al. 2004) "
                "on out-of-fold predictions, maximizing AUC",
            }
        return document

    def _explanations(self, model: TabularModel, data: TrainingData) -> dict[str, Any]:
        importance = model.feature_importances_.sort_values(ascending=False)
        out: dict[str, Any] = {"importance": {k: float(v) for k, v in importance.items()}}
        try:
            sample = data.X.head(5)
            contributions = model.explain(sample)
            scores = model.predict_proba(sample)[:, 1]
            out["reason_code_examples"] = [
                {
                    "row": int(i) + 1,
                    "score": float(scores[n]),
                    "reasons": reason_codes(contributions.iloc[n], sample.iloc[n], top=3),
                }
                for n, i in enumerate(sample.index)
            ]
        except NotImplementedError:
            pass
        scorecard = _find_scorecard(model)
        if scorecard is not None:
            out["scorecard"] = scorecard.scorecard_table().to_dict(orient="records")
        return out


# ---------------------------------------------------------------- helpers
def reason_codes(contributions: pd.Series, values: pd.Series, top: int = 3) -> list[dict]:
    """The features pushing this row's score up the most (positive contributions)."""
    ranked = contributions.sort_values(ascending=False).head(top)
    return [
        {"feature": str(f), "value": _plain(values.get(f)), "contribution": float(c)}
        for f, c in ranked.items()
        if c > 0
    ]


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def _find_scorecard(model: TabularModel):
    if hasattr(model, "scorecard_table"):
        return model
    for member in getattr(model, "models_", {}).values():
        if hasattr(member, "scorecard_table"):
            return member
    return None


def _fold_aucs(scores: np.ndarray, y: np.ndarray, splits) -> list[float]:
    from sklearn.metrics import roc_auc_score

    return [float(roc_auc_score(y[valid], scores[valid])) for _, valid in splits]


def _single_row_latency_ms(
    model: TabularModel, X: pd.DataFrame, n: int = 50, budget_s: float = 0.5
) -> float:
    """p99 of in-process single-row prediction time, in milliseconds, over the first ``n``
    rows, or fewer (at least 10) once ``budget_s`` seconds are spent."""
    rows = X.head(n)
    timings: list[float] = []
    for i in range(len(rows)):
        started = time.perf_counter()
        model.predict_proba(rows.iloc[[i]])
        timings.append((time.perf_counter() - started) * 1000.0)
        if len(timings) >= 10 and sum(timings) > budget_s * 1000.0:
            break
    return float(np.percentile(timings, 99))


def _summary(result: RunResult) -> dict[str, Any]:
    best_row = result.leaderboard.iloc[0].to_dict()
    headline = get_solution(result.result["solution"]).HEADLINE
    return {
        "best": result.best,
        headline: best_row.get(headline),
        "model_ref": result.model_ref,
        "gates_passed": result.gates_passed,
        "promoted": result.promoted,
    }

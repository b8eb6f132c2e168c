"""One credit-risk run: cross-validated candidates, their blend, the cost-optimal threshold,
the fairness audit, the refit of the winner and its latency; the artifact it registers."""

from __future__ import annotations

import contextlib
import json
import tempfile
import time
from concurrent.futures import Executor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from threadpoolctl import threadpool_limits

from tailorkit.data.dataset import TrainingData, load_training_data
from tailorkit.data.splits import make_splits
from tailorkit.evaluate.fairness import group_fairness
from tailorkit.evaluate.metrics import binary_metrics, bootstrap_ci, fold_summary
from tailorkit.evaluate.threshold import CostMatrix, bayes_threshold, expected_cost
from tailorkit.execution.process_pool import fold_executor, fold_workers
from tailorkit.models import FAMILIES, family_class, make_model, sized_params
from tailorkit.models.base import TabularModel
from tailorkit.models.ensemble import select_weights
from tailorkit.solutions.base import Evaluation, RunContext, Say
from tailorkit.solutions.credit_risk.document import result_document
from tailorkit.solutions.credit_risk.predict import DECISION_FILE
from tailorkit.solutions.reference_sample import save_reference
from tailorkit.training.ablation import is_ablation, pretraining_twin
from tailorkit.training.crossval import (
    CandidateResult,
    FoldJobs,
    TabularFolds,
    cross_fitted_blend,
    cross_validate,
)

LOWER_IS_BETTER = ("brier", "log_loss", "cost")


def fit_candidates(context: RunContext) -> Evaluation:
    """Cross-validate every candidate, choose by the spec's metric, refit, save."""
    spec, say = context.spec, context.say
    evaluation = spec.evaluation
    with contextlib.ExitStack() as stack:
        executor = _fold_pool(spec, stack)  # workers import torch while the data is read
        say("reading data")
        data = load_training_data(spec, context.base_dir)
        splits = make_splits(
            data.y,
            protocol=evaluation.protocol,
            folds=evaluation.folds,
            holdout_fraction=evaluation.holdout_fraction,
            seed=evaluation.seed,
        )
        candidates = make_candidates(spec, len(data.y))
        results = _cross_validate_all(spec, candidates, data, splits, say, executor)
    eligible = [n for n in results if not is_ablation(n)]
    if spec.ensemble and len(eligible) > 1:
        results["ensemble"] = _blend(results, eligible, data.y, splits, evaluation.seed)
        eligible.append("ensemble")
    say("scoring candidates")
    cost = CostMatrix(**spec.cost.model_dump()) if spec.cost else None
    threshold = bayes_threshold(cost) if cost else 0.5
    rows = [leaderboard_row(spec, r, data.y, threshold, cost) for r in results.values()]
    rows.sort(key=lambda row: _rank_key(row, evaluation.metric, eligible))
    best = rows[0]["model"]
    fairness = _fairness(data, results[best].oof, threshold)
    say(f"refitting {best} on all {len(data.y)} rows")
    final = _final_model(best, candidates, results, data)
    rows[0]["p99_latency_ms"] = single_row_latency_ms(final, data.X)
    _save(context.artifact_dir, spec, data, threshold, cost, final, results[best].oof)
    document = result_document(spec, data, rows, best, results, threshold, cost, fairness, final)
    return Evaluation(
        leaderboard=rows,
        best=best,
        family=final.family,
        document=document,
        fairness=fairness,
        measured_on_final=("p99_latency_ms",),
        model=final,
        baseline={"name": "a constant score, the prior rate", "auc": 0.5},
    )


def make_candidates(spec: Any, n_rows: int) -> dict[str, TabularModel]:
    """The spec's models, their size-dependent defaults settled for ``n_rows`` rows, and
    the FT-Transformer's pretraining twin when the ablation is asked for."""
    seed = spec.evaluation.seed
    candidates: dict[str, TabularModel] = {}
    for entry in spec.model_entries():
        params = sized_params(entry.family, {"random_state": seed, **entry.params}, n_rows)
        candidates[entry.name] = make_model(entry.family, **params)
        if entry.family == "ft_transformer" and spec.evaluation.pretraining_ablation:
            twin, twin_params = pretraining_twin(entry.name, params, bool(spec.data.unlabeled))
            candidates[twin] = make_model(entry.family, **twin_params)
    return candidates


def _rank_key(row: dict[str, Any], metric: str, eligible: list[str]) -> tuple:
    value = row.get(metric)
    if metric in LOWER_IS_BETTER:
        return (row["model"] not in eligible, 1e9 if value is None else value)
    return (row["model"] not in eligible, 1e9 if value is None else -value)


def _blend(results, eligible, y, splits, seed: int) -> CandidateResult:
    blended = cross_fitted_blend({n: results[n].oof for n in eligible}, y, splits, seed)
    return CandidateResult(
        name="ensemble",
        oof=blended,
        fold_auc=[float(roc_auc_score(y[valid], blended[valid])) for _, valid in splits],
        fit_seconds=sum(results[n].fit_seconds for n in eligible),
        predict_ms_per_1000=sum(results[n].predict_ms_per_1000 for n in eligible),
    )


def leaderboard_row(
    spec: Any, result: CandidateResult, y: np.ndarray, threshold: float, cost: CostMatrix | None
) -> dict[str, Any]:
    """One candidate's metrics on its pooled out-of-fold predictions."""
    seen = ~np.isnan(result.oof)
    y_seen, p_seen = y[seen], result.oof[seen]
    row: dict[str, Any] = {"model": result.name, **binary_metrics(y_seen, p_seen, threshold)}
    n_boot = spec.evaluation.bootstrap
    if n_boot:
        row["auc_ci"] = list(
            bootstrap_ci(y_seen, p_seen, "auc", n_boot=n_boot, random_state=spec.evaluation.seed)
        )
    summary = fold_summary(result.fold_auc)
    row["fold_auc_mean"], row["fold_auc_std"] = summary["mean"], summary["std"]
    if cost:
        row["cost"] = expected_cost(y_seen, p_seen, threshold, cost)
    row["fit_seconds"] = round(result.fit_seconds, 3)
    row["predict_ms_per_1000"] = round(result.predict_ms_per_1000, 3)
    return row


def _fairness(data: TrainingData, scores: np.ndarray, threshold: float) -> list[dict]:
    seen = ~np.isnan(scores)
    return [
        group_fairness(
            data.y[seen], scores[seen], data.protected[column][seen], threshold=threshold
        )
        for column in data.protected.columns
    ]


def _fold_pool(spec: Any, stack: contextlib.ExitStack) -> Executor | None:
    """Worker processes for the candidates with ``parallel_folds`` (one per core, at most one
    per fold), started now so that they import their modules meanwhile; ``None`` when no
    candidate needs them or there is one core or one split."""
    evaluation = spec.evaluation
    n_splits = evaluation.folds if evaluation.protocol == "kfold" else 1
    workers = fold_workers(evaluation.n_jobs, n_splits)
    parallel = sorted(
        {e.family for e in spec.model_entries() if family_class(e.family).parallel_folds}
    )
    if not parallel or workers < 2:
        return None
    modules = tuple(FAMILIES[f].module for f in parallel)
    preload = tuple(sorted({m for f in parallel for m in FAMILIES[f].preload}))
    return stack.enter_context(fold_executor(workers, (__name__, *modules, *preload)))


def _cross_validate_all(spec, candidates, data: TrainingData, splits, say: Say, executor):
    """Every candidate's out-of-fold predictions. Candidates with ``parallel_folds`` run in
    the ``executor``'s worker processes, submitted first; the others train here meanwhile
    and are then fitted on all rows while the workers finish."""
    results: dict[str, CandidateResult] = {}
    workers = fold_workers(spec.evaluation.n_jobs, len(splits))
    tasks = {
        name: TabularFolds(model, data.X, data.y, data.schema, data.X_unlabeled)
        for name, model in candidates.items()
    }
    with contextlib.ExitStack() as stack:
        pending: dict[str, FoldJobs] = {}
        if executor is not None:  # workers load torch while others train
            refits = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            for number, (name, model) in enumerate(candidates.items()):
                if model.parallel_folds:  # start now, run while the others train
                    say(f"starting {name} in {workers} worker processes")
                    refit_dir = None if is_ablation(name) else refits / str(number)
                    pending[name] = FoldJobs(
                        name, tasks[name], data.y, splits, executor=executor, refit_dir=refit_dir
                    )
            if pending:  # the workers hold the cores: one BLAS thread here meanwhile
                stack.enter_context(threadpool_limits(1))
        for name in candidates:
            if name not in pending:
                say(f"training {name}")
                results[name] = cross_validate(name, tasks[name], data.y, splits, progress=say)
        if pending:  # this process would only wait: fit its candidates on all rows now
            for name in [n for n in results if not is_ablation(n)]:
                say(f"refitting {name} on all rows while the workers train")
                refit = tasks[name].refit()
                refit.importances_ = refit.importances_  # lazy ones (TreeSHAP): now, not later
                results[name].refit = refit
        for name, jobs in pending.items():
            say(f"waiting for {name}")
            results[name] = jobs.result(say)
    return {name: results[name] for name in candidates}  # the spec's order


def _final_model(best: str, candidates, results, data: TrainingData) -> TabularModel:
    ready = {n: r.refit for n, r in results.items() if r.refit is not None}
    if best in ready:
        return ready[best]
    if best == "ensemble":
        eligible = [n for n in candidates if not is_ablation(n)]
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


def _save(folder: Path, spec, data: TrainingData, threshold, cost, model, scores) -> None:
    """The model, its decision policy (``decision.json``: what predict and serve read) and
    its training reference for monitoring (``reference.json``, out-of-fold ``scores``)."""
    model.save(folder)
    privacy = [*spec.features.protected, *spec.features.personal]
    save_reference(folder, data.X, data.schema, scores, excluded=privacy, seed=spec.evaluation.seed)
    decision = {
        "project": spec.name,
        "solution": spec.solution,
        "target": spec.target,
        "positive_label": data.positive_label,
        "threshold": threshold,
        "cost": cost.__dict__ if cost else None,
        "key": spec.data.key,
        "columns": list(data.X.columns),
        "dropped_columns": list(data.dropped),
        "requirements": list(spec.requirements),  # an experiment's fairness guardrail
        "privacy": {
            "protected": list(spec.features.protected),  # also the experiments' fairness
            "personal": list(spec.features.personal),
        },
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    (folder / DECISION_FILE).write_text(json.dumps(decision, indent=1))


def single_row_latency_ms(model, X, n: int = 50, budget_s: float = 0.5) -> float:
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

"""One recommendation run: split by time, fit every candidate, choose on the validation
cases, measure on the test cases (and on items never seen in training, and as new users),
refit the winner on every interaction, save it with what serving needs."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from safetensors.numpy import save_file

from tailorkit.data.interactions import (
    Interactions,
    blocked_items,
    leave_one_out,
    temporal_split,
    withhold_items,
)
from tailorkit.data.user_segments import MIN_USERS, fit_segments, rank_as_new_users
from tailorkit.errors import DataError
from tailorkit.evaluate.ranking import (
    bootstrap_interval,
    coverage,
    evaluate_scorer,
    per_case,
    popularity_bias,
    ranking_metrics,
)
from tailorkit.models import make_model
from tailorkit.models.recommender import TrainingSequences, Validation
from tailorkit.models.text_encoder import encode_texts
from tailorkit.solutions.base import Evaluation, RunContext
from tailorkit.solutions.recommendation.data import load_data, load_users
from tailorkit.solutions.recommendation.document import (
    ABLATION_SUFFIX,
    rank_by_validation,
    result_document,
)
from tailorkit.solutions.recommendation.recommend import HISTORY_FILE, RECOMMENDER_FILE
from tailorkit.solutions.recommendation.spec import RecSpec


@dataclass
class Prepared:
    """A run's inputs: interactions, their split, item text vectors, users, rules."""

    data: Interactions
    split: Any
    sequences: list[np.ndarray]
    times: list[np.ndarray]
    weights: list[np.ndarray] | None
    vectors: np.ndarray | None
    attributes: pd.DataFrame | None
    blocked: np.ndarray
    popularity: np.ndarray


def fit_candidates(context: RunContext) -> Evaluation:
    """Split, fit every candidate, choose on the validation cases, refit, save."""
    spec: RecSpec = context.spec
    say = context.say
    run = prepare(spec, context.base_dir, say)
    candidates = _candidates(spec)
    rows, fitted = [], {}
    for name, (family, params) in candidates.items():
        say(f"training {name}")
        row, fitted[name] = fit_and_rank(
            name, family, params, run.data, run.split, run.vectors, run.popularity, spec
        )
        rows.append(row)
    rows = rank_by_validation(rows, spec.evaluation.metric)
    best = rows[0]
    _cold_start_rows(spec, run, candidates, rows, say)
    new_users = None
    if run.attributes is not None:
        new_users = compare_new_users(
            run.attributes,
            run.data,
            run.split,
            spec.evaluation.metric,
            spec.recommend.exclude_seen,
            spec.evaluation.bootstrap,
            spec.evaluation.seed,
        )
    data = run.data
    say(f"refitting {best['model']} on all {data.counts['interactions']} interactions")
    final = _refit(best["model"], candidates, fitted[best["model"]], run)
    final.save(context.artifact_dir)
    segments = None
    if new_users and new_users["kept"]:
        segments = fit_segments(run.attributes, data.user_ids, run.sequences, data.n_items)
    everyone = np.bincount(data.items, minlength=data.n_items) / max(data.n_users, 1)
    _save_serving_state(context.artifact_dir, spec, run, everyone, segments)
    document = result_document(spec, data, run.split, rows, run.blocked)
    if new_users:
        document["new_users"] = new_users
    return Evaluation(
        leaderboard=[{k: v for k, v in r.items() if k != "epochs"} for r in rows],
        best=best["model"],
        family=final.family,
        document=document,
        metrics=best,
        model=final,
        baseline=popularity_baseline(spec, run, rows),
    )


def popularity_baseline(spec: RecSpec, run: Prepared, rows: list[dict]) -> dict[str, Any]:
    """The trivial recommender on the same test cases: global popularity (the candidate's
    row when it ran, else fitted now, in milliseconds)."""
    row = next((r for r in rows if r["model"] == "popularity"), None)
    if row is None:
        row, _ = fit_and_rank(
            "popularity", "popularity", {}, run.data, run.split, None, run.popularity, spec
        )
    return {"name": "global popularity", "ndcg@10": row["ndcg@10"]}


def prepare(spec: RecSpec, base_dir: Path, say) -> Prepared:
    """Read the tables, encode item text, split the histories by time."""
    evaluation = spec.evaluation
    say("reading interactions")
    data = load_data(spec, base_dir)
    attributes, user_warnings = load_users(spec, base_dir)
    data.warnings.extend(user_warnings)
    blocked = blocked_items(data.item_table, spec.recommend.rules, spec.data.items or "items")
    vectors = _text_vectors(data, spec, say)
    sequences, times = data.sequences()
    weights = data.weight_sequences()
    if evaluation.protocol == "leave_one_out":
        split = leave_one_out(sequences, times, weights)
    else:
        split = temporal_split(sequences, times, evaluation.test_fraction, weights)
    if not len(split.test):
        raise DataError(
            f"{spec.data.interactions}: no user has two interactions; nothing to evaluate"
        )
    popularity = np.bincount(np.concatenate(split.train), minlength=data.n_items) / max(
        data.n_users, 1
    )
    return Prepared(
        data, split, sequences, times, weights, vectors, attributes, blocked, popularity
    )


def _cold_start_rows(spec: RecSpec, run: Prepared, candidates, rows, say) -> None:
    """``cold_hr@10`` of the champion and every main candidate on items withheld from
    training (scored through their text alone)."""
    evaluation = spec.evaluation
    if evaluation.cold_items_fraction <= 0:
        return
    if run.vectors is None:
        run.data.warnings.append(
            "evaluation.cold_items_fraction: no cold-start split, since the items have no "
            "text (data.text) to score items never seen in training"
        )
        return
    cold = withhold_items(
        run.split, run.data.n_items, evaluation.cold_items_fraction, seed=evaluation.seed
    )
    if not len(cold.test):
        return
    for row in rows:
        if row["model"].endswith(ABLATION_SUFFIX) and row is not rows[0]:
            continue
        say(f"cold-start items: {row['model']}")
        family, params = candidates[row["model"]]
        cold_row, _ = fit_and_rank(
            row["model"], family, params, run.data, cold, run.vectors, run.popularity, spec
        )
        row["cold_hr@10"] = cold_row["hr@10"]
        row["cold_cases"] = len(cold.test)


def _candidates(spec: RecSpec) -> dict[str, tuple[str, dict]]:
    seed = spec.evaluation.seed
    out: dict[str, tuple[str, dict]] = {}
    for entry in spec.model_entries():
        params = dict(entry.params)
        if entry.family in ("als", "sasrec"):
            params.setdefault("random_state", seed)
        out[entry.name] = (entry.family, params)
        if (
            entry.family == "sasrec"
            and spec.evaluation.pretraining_ablation
            and params.get("pretrain_epochs", 1) != 0
        ):
            out[entry.name + ABLATION_SUFFIX] = ("sasrec", {**params, "pretrain_epochs": 0})
    return out


def _text_vectors(data, spec: RecSpec, say) -> np.ndarray | None:
    if not any(t.strip() for t in data.item_text):
        return None
    say(f"encoding {data.n_items} item texts")
    name = None if spec.text_encoder == "default" else spec.text_encoder
    return encode_texts(data.item_text, name)


def fit_and_rank(name, family, params, data, split, vectors, popularity, spec):
    model = make_model(family, **params)
    train = TrainingSequences(
        split.train, data.n_items, split.train_times, split.train_weights, vectors
    )
    started = time.perf_counter()
    valid = split.valid
    model.fit(train, Validation(valid.histories, valid.targets, spec.recommend.exclude_seen))
    fit_seconds = time.perf_counter() - started

    def ranked(cases):
        return evaluate_scorer(
            model.score,
            cases.histories,
            cases.targets,
            data.n_items,
            exclude_seen=spec.recommend.exclude_seen,
        )

    ranks, tops = ranked(split.test)
    ks = tuple(sorted(set(spec.evaluation.ks) | {10}))
    row: dict[str, Any] = {"model": name, "family": family, **ranking_metrics(ranks, ks)}
    if spec.evaluation.bootstrap:
        for metric in ("hr@10", "ndcg@10"):
            row[f"{metric}_ci"] = list(
                bootstrap_interval(ranks, metric, spec.evaluation.bootstrap, spec.evaluation.seed)
            )
    row["coverage@10"] = coverage(tops, data.n_items, 10)
    row["popularity_bias@10"] = popularity_bias(tops, popularity, 10)
    metric = spec.evaluation.metric
    row[f"valid_{metric}"] = None
    if len(split.valid):  # what chooses the champion: the test cases stay unseen by choices
        valid_ranks, _ = ranked(split.valid)
        row[f"valid_{metric}"] = float(per_case(valid_ranks, metric).mean())
    row["fit_seconds"] = round(fit_seconds, 3)
    row["test_cases"] = len(split.test)
    if hasattr(model, "log_"):
        row["epochs"] = model.log_
        row["best_epoch"] = model.best_epoch_
    if getattr(model, "cooccurrence", 0):
        row["prior_weight"] = model.prior_weight_  # the co-occurrence prior validation chose
    if hasattr(model, "history_"):
        row["best_epoch"] = int(np.argmax(model.history_)) + 1 if model.history_ else None
    return row, model


def compare_new_users(
    attributes: pd.DataFrame,
    data,
    split,
    metric: str = "ndcg@10",
    exclude_seen: bool = True,
    bootstrap: int = 0,
    seed: int = 0,
) -> dict:
    """Global against segment popularity for users without history, measured on the test
    and validation cases ranked as if their users were new; validation keeps one."""
    segments = fit_segments(attributes, data.user_ids, split.train, data.n_items)
    had = [np.unique(s) for s in split.train if len(s)]
    everyone = np.bincount(np.concatenate(had), minlength=data.n_items) if had else 0
    everyone = np.asarray(everyone, np.float64) / max(data.n_users, 1)
    ranks = {
        name: rank_as_new_users(segments, attributes, data.user_ids, cases, everyone, exclude_seen)
        for name, cases in (("test", split.test), ("valid", split.valid))
    }
    rows = []
    for i, name in enumerate(("popularity", "segment popularity")):
        valid = per_case(ranks["valid"][i], metric)
        rows.append(
            {
                "model": name,
                f"valid_{metric}": float(valid.mean()) if len(valid) else None,
                **ranking_metrics(ranks["test"][i], (10,)),
            }
        )
        if bootstrap:
            interval = bootstrap_interval(ranks["test"][i], "ndcg@10", bootstrap, seed)
            rows[-1]["ndcg@10_ci"] = list(interval)
    chooses = f"valid_{metric}"
    kept = rows[1][chooses] is not None and rows[1][chooses] > rows[0][chooses]
    return {
        "columns": segments.columns,
        "segments": segments.keys,
        "rows": rows,
        "kept": kept,
        "chosen_by": chooses,
        "min_users": MIN_USERS,
        "test_cases": len(split.test),
    }


def _refit(name: str, candidates, fitted, run: Prepared):
    """The winner again on every interaction, for as many epochs as validation chose."""
    family, params = candidates[name]
    params = dict(params)
    if family == "sasrec":
        epochs = max(1, int(getattr(fitted, "best_epoch_", 1) or 1))
        params["max_epochs"] = epochs + int(getattr(fitted, "average", 0))  # its last 2a+1 mean
        params["cooccurrence_weight"] = float(getattr(fitted, "prior_weight_", 0.0))
    if family == "als" and getattr(fitted, "history_", None):
        params["max_epochs"] = int(np.argmax(fitted.history_)) + 1
    model = make_model(family, **params)
    return model.fit(
        TrainingSequences(run.sequences, run.data.n_items, run.times, run.weights, run.vectors)
    )


def _save_serving_state(model_dir: Path, spec, run: Prepared, popularity, segments) -> None:
    """What ``recommend`` needs besides the model: ids, titles, histories, rules, and the
    segments' popularity when validation kept it for users without history."""
    data, sequences, blocked = run.data, run.sequences, run.blocked
    lengths = np.array([len(s) for s in sequences], dtype=np.int64)
    extra = {"segment_popularity": segments.popularity} if segments else {}
    save_file(
        {
            **extra,
            "items": np.concatenate(sequences).astype(np.int64)
            if sequences
            else np.zeros(0, np.int64),
            "lengths": lengths,
            "blocked": np.asarray(blocked if len(blocked) else np.zeros(data.n_items, bool)).astype(
                np.uint8
            ),
            "popularity": np.asarray(popularity, dtype=np.float32),
        },
        str(model_dir / HISTORY_FILE),
    )
    titles = _titles(data)
    state = {
        "project": spec.name,
        "solution": "recommendation",
        "user_ids": [str(u) for u in data.user_ids],
        "item_ids": [str(i) for i in data.item_ids],
        "titles": titles,
        "k": spec.recommend.k,
        "exclude_seen": spec.recommend.exclude_seen,
        "rules": spec.recommend.rules,
        "item_key": spec.data.item_key or spec.data.item,
        "segments": segments.state() if segments else None,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    (model_dir / RECOMMENDER_FILE).write_text(json.dumps(state))


def _titles(data) -> list[str]:
    table = data.item_table
    if table is not None:
        for column in ("title", "name", "Description", "description"):
            if column in table.columns:
                return [("" if pd.isna(t) else str(t)) for t in table[column]]
    return [t.split(" | ")[0] for t in data.item_text]

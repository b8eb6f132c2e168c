"""Recommendation: interactions (+ item text, attributes) in, top-K items per user out.

Defaults: popularity, ItemKNN, implicit ALS and a SASRec transformer (full-softmax
cross-entropy, masked-item pretraining, item text from the pretrained MiniLM); leave-one-out
by time with full ranking and seen items excluded; NDCG@10 as the headline metric. The
model best on the validation cases (the SASRec twin without pretraining competes too) is
refitted on every interaction, registered, and served by ``tailorkit recommend``. Users
without history get the popular items of their segments (the optional users table) where
validation says segments beat global popularity.
"""

from __future__ import annotations

import json
import math
import re
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np
import pandas as pd
import typer
from pydantic import Field, field_validator

from tailorkit.errors import DataError, TailorkitError
from tailorkit.solutions import require_options
from tailorkit.spec import ModelEntry, SpecBase, _Strict

RECOMMENDER_FILE = "recommender.json"
HISTORY_FILE = "histories.safetensors"
ABLATION_SUFFIX = " (no pretraining)"
KS = (5, 10, 20)
METRICS: tuple[str, ...] = (
    *(f"{m}@{k}" for m in ("hr", "ndcg", "recall") for k in KS),
    "mrr",
    "coverage@10",
    "popularity_bias@10",
    "cold_hr@10",
    "fit_seconds",
)
HEADLINE = "ndcg@10"
BOARD_COLUMNS = {
    "model": "model",
    "valid_ndcg@10": "valid NDCG@10",
    "hr@10": "HR@10",
    "ndcg@10": "NDCG@10",
    "ndcg@10_ci": "95% CI",
    "coverage@10": "cover",
    "popularity_bias@10": "pop",
    "cold_hr@10": "cold HR",
    "fit_seconds": "fit s",
}


class RecData(_Strict):
    interactions: str = Field(description="events: user, item, time (+ event type, value)")
    items: str | None = Field(None, description="item catalogue: id, text, attributes")
    users: str | None = Field(None, description="optional user attributes")
    user_segments: list[str] | None = Field(
        None,
        description="users-table columns whose values are segments for users without history "
        "(default: every column with 2-50 distinct values)",
    )
    user: str = "user_id"
    item: str = "item_id"
    time: str = "timestamp"
    event: str | None = None
    value: str | None = None
    event_weights: dict[str, float] = {}
    item_key: str | None = Field(None, description="item id column of the catalogue")
    text: list[str] = Field([], description="catalogue columns joined into the item text")
    repeats: Literal["first", "keep"] = "first"
    encoding: str = "utf-8"


class RecEvaluation(_Strict):
    protocol: Literal["leave_one_out", "temporal"] = "leave_one_out"
    test_fraction: float = Field(0.1, gt=0.0, lt=0.45)
    ks: list[int] = list(KS)
    metric: str = "ndcg@10"
    seed: int = 0
    bootstrap: int = Field(1000, ge=0)
    cold_items_fraction: float = Field(0.1, ge=0.0, lt=0.9)
    pretraining_ablation: bool = True

    @field_validator("metric")
    @classmethod
    def _ranking_metric(cls, value: str) -> str:
        if not re.fullmatch(r"(hr|ndcg|recall)@[1-9][0-9]*|mrr", value):
            raise ValueError(f"{value!r} cannot choose a model: use hr@K, ndcg@K, recall@K or mrr")
        return value


class RecommendSection(_Strict):
    k: int = Field(10, ge=1)
    exclude_seen: bool = True
    rules: list[str] = Field([], description="items matching any rule are never recommended")


class RecSpec(SpecBase):
    solution: Literal["recommendation"]
    data: RecData
    models: list[ModelEntry | str] = []
    evaluation: RecEvaluation = RecEvaluation()
    recommend: RecommendSection = RecommendSection()
    text_encoder: str = Field("default", description="Hugging Face name or path")

    def model_entries(self) -> list[ModelEntry]:
        return [
            m if isinstance(m, ModelEntry) else ModelEntry(name=m, family=m) for m in self.models
        ]


SPEC = RecSpec
DEFAULTS: dict[str, Any] = {"models": ["popularity", "item_knn", "als", "sasrec"]}


# ------------------------------------------------------------------- init
def init_template(name: str, options: dict[str, Any]) -> str:
    """A commented spec from ``--interactions`` (and optionally ``--items``, ``--users``)."""
    require_options("recommendation", options, "interactions")
    interactions = options["interactions"]
    columns = _peek_columns(interactions)
    user = _pick(columns, ("user_id", "userid", "user", "customer_id", "customerid"), "user_id")
    item = _pick(columns, ("item_id", "itemid", "item", "product_id", "movieid", "sku"), "item_id")
    stamp = _pick(columns, ("timestamp", "time", "date", "event_time", "invoicedate"), "timestamp")
    event = _pick(columns, ("event", "event_type", "action"), None)
    value = _pick(columns, ("value", "quantity", "amount", "rating"), "quantity")
    items, users = options.get("items"), options.get("users")
    text = list(options.get("text") or [])
    if items and not text:
        item_columns = _peek_columns(items)
        text = [
            c
            for c in item_columns
            if c.lower() in ("title", "name", "description", "category", "department", "tags")
        ]
    items_line = f"items: {items}" if items else "# items: data/products.csv"
    users_line = f"users: {users}" if users else "# users: data/users.csv"
    event_line = f"event: {event}" if event else "# event: event_type"
    weights = "{view: 1, cart: 2, purchase: 4}"
    return f"""\
# tailorkit project spec. Check it with `tailorkit validate --show`, train with `tailorkit run`.
name: {name}
solution: recommendation

data:
  interactions: {interactions}   # one row per event: user, item, time
  {items_line}        # catalogue: item id + text (title, description, ...) + attributes
  {users_line}        # user attributes: segments for users without history
  # user_segments: [region, age_band]   # default: every users column with 2-50 values
  user: {user}
  item: {item}
  time: {stamp}                  # epoch seconds/ms or dates, formats may be mixed
  {event_line}
  # event_weights: {weights}
  # value: {value}               # a number that multiplies each event's weight (<= 0: dropped)
  text: [{", ".join(text)}]      # catalogue columns that describe an item
  repeats: first                 # first: a user-item pair counts once (at its first time)

# models: [popularity, item_knn, als, sasrec]   # the default candidates

evaluation:
  protocol: leave_one_out        # or temporal (global time split, test_fraction: 0.1)
  metric: ndcg@10
  cold_items_fraction: 0.1       # share of items withheld to measure cold-start HR@10

recommend:
  k: 10
  exclude_seen: true
  rules: []                      # e.g. ["in_stock == false"]: never recommended

requirements:
  - ndcg@10 >= 0.01
"""


def _peek_columns(source: str) -> list[str]:
    from tailorkit.data.io import read_table

    try:
        return list(read_table(source).columns)
    except TailorkitError:
        return []


def _pick(columns: list[str], names: tuple[str, ...], default: str | None) -> str | None:
    lower = {c.lower(): c for c in columns}
    for name in names:
        if name in lower:
            return lower[name]
    return default


# ------------------------------------------------------------------- demo
DEMO_SPEC = """\
# tailorkit demo: a simulated online shop (tailorkit/data/simulators/shoppers.py):
# 1,500 shoppers with latent tastes browsing 400 products in sessions. Edit and re-run.
name: shop
solution: recommendation
data:
  interactions: events.csv
  items: products.csv
  users: users.csv
  event: event
  event_weights: {view: 1, cart: 2, purchase: 4}
  text: [title, department]
models:
  - popularity
  - item_knn
  - als
  - name: sasrec               # small settings so the demo stays under 3 minutes
    family: sasrec
    params: {max_len: 20, hidden: 32, batch_size: 64, pretrain_epochs: 2, max_epochs: 8}
evaluation:
  protocol: leave_one_out
  bootstrap: 300
recommend:
  k: 10
  rules: ["in_stock == false"]
requirements:
  - ndcg@10 >= 0.02
"""


def demo_project(folder: Path) -> tuple[Path, str]:
    from tailorkit.data.simulators.shoppers import simulate_shop

    folder.mkdir(parents=True, exist_ok=True)
    events, products, users = simulate_shop(random_state=0)
    events.to_csv(folder / "events.csv", index=False)
    products.to_csv(folder / "products.csv", index=False)
    users.to_csv(folder / "users.csv", index=False)
    spec = folder / "tailorkit.yaml"
    spec.write_text(DEMO_SPEC)
    return spec, f"simulated shop: {len(events)} events, {len(products)} products"


# ------------------------------------------------------------------- data
def load_data(spec: RecSpec, base_dir: Path):
    from tailorkit.data.interactions import build_interactions
    from tailorkit.data.io import read_table

    data = spec.data
    events = read_table(data.interactions, base_dir=base_dir, encoding=data.encoding)
    items = (
        read_table(data.items, base_dir=base_dir, encoding=data.encoding) if data.items else None
    )
    return build_interactions(
        events,
        source=Path(data.interactions).name,
        user_col=data.user,
        item_col=data.item,
        time_col=data.time,
        event_col=data.event,
        event_weights=data.event_weights,
        value_col=data.value,
        repeats=data.repeats,
        items=items,
        items_source=Path(data.items).name if data.items else "items",
        item_key=data.item_key or data.item,
        text_columns=data.text,
    )


def load_users(spec: RecSpec, base_dir: Path) -> tuple[pd.DataFrame | None, list[str]]:
    """The optional users table's segment columns (one row per user id) and its warnings."""
    from tailorkit.data.io import read_table
    from tailorkit.data.user_segments import read_user_attributes

    data = spec.data
    if not data.users:
        return None, []
    table = read_table(data.users, base_dir=base_dir, encoding=data.encoding)
    return read_user_attributes(table, Path(data.users).name, data.user, data.user_segments)


def describe_data(spec: RecSpec, base_dir: Path) -> tuple[list[str], str]:
    data = load_data(spec, base_dir)
    _, user_warnings = load_users(spec, base_dir)
    data.warnings.extend(user_warnings)
    c = data.counts
    summary = (
        f"data: {c['interactions']} interactions, {c['users']} users, {c['items']} items "
        f"({c.get('items_missing_from_table', 0)} missing from the item table, "
        f"{c['single_interaction_users']} single-interaction users)"
    )
    return list(data.warnings), summary


# ------------------------------------------------------------------ train
def train(project, registry, run_id: int, say):
    """Split, fit every candidate, choose on the validation cases, measure on the test
    cases, gate, refit, register, report."""
    from tailorkit.data.interactions import (
        blocked_items,
        leave_one_out,
        temporal_split,
        withhold_items,
    )
    from tailorkit.gates import evaluate_requirements
    from tailorkit.pipeline import RunResult
    from tailorkit.report.run_report import to_jsonable

    spec: RecSpec = project.spec
    evaluation = spec.evaluation
    say("reading interactions")
    data = load_data(spec, project.base_dir)
    attributes, user_warnings = load_users(spec, project.base_dir)
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
    candidates = _candidates(spec)
    rows, fitted = [], {}
    for name, (family, params) in candidates.items():
        say(f"training {name}")
        row, model = _fit_and_rank(name, family, params, data, split, vectors, popularity, spec)
        rows.append(row)
        fitted[name] = model
    rows = rank_by_validation(rows, evaluation.metric)
    best = rows[0]
    if evaluation.cold_items_fraction > 0 and vectors is None:
        data.warnings.append(
            "evaluation.cold_items_fraction: no cold-start split, since the items have no "
            "text (data.text) to score items never seen in training"
        )
    if evaluation.cold_items_fraction > 0 and vectors is not None:
        cold = withhold_items(
            split, data.n_items, evaluation.cold_items_fraction, seed=evaluation.seed
        )
        if len(cold.test):
            for row in rows:
                if row["model"].endswith(ABLATION_SUFFIX) and row is not best:
                    continue
                say(f"cold-start items: {row['model']}")
                family, params = candidates[row["model"]]
                cold_row, _ = _fit_and_rank(
                    row["model"], family, params, data, cold, vectors, popularity, spec
                )
                row["cold_hr@10"] = cold_row["hr@10"]
                row["cold_cases"] = len(cold.test)
    new_users = None
    if attributes is not None:
        new_users = compare_new_users(
            attributes,
            data,
            split,
            evaluation.metric,
            spec.recommend.exclude_seen,
            evaluation.bootstrap,
            evaluation.seed,
        )
    requirements = evaluate_requirements(spec.requirements, best, [], "evaluation", known=METRICS)
    gates_passed = all(r["passed"] for r in requirements)

    say(f"refitting {best['model']} on all {data.counts['interactions']} interactions")
    final = _refit(
        best["model"], candidates, fitted[best["model"]], data, sequences, times, weights, vectors
    )
    with tempfile.TemporaryDirectory() as folder:
        model_dir = final.save(Path(folder) / "model")
        everyone = np.bincount(data.items, minlength=data.n_items) / max(data.n_users, 1)
        segments = None
        if new_users and new_users["kept"]:
            from tailorkit.data.user_segments import fit_segments

            segments = fit_segments(attributes, data.user_ids, sequences, data.n_items)
        _save_serving_state(model_dir, spec, data, sequences, blocked, everyone, segments)
        version = registry.register_model(
            spec.name,
            model_dir,
            family=final.family,
            run_id=run_id,
            metrics={k: v for k, v in best.items() if isinstance(v, (int, float))},
        )
    for row in rows:
        registry.log_metrics(
            run_id, row["model"], {k: v for k, v in row.items() if isinstance(v, (int, float))}
        )
    document = _document(
        spec, run_id, version.version, data, split, rows, best, requirements, gates_passed, blocked
    )
    if new_users:
        document["new_users"] = new_users
    html_path, json_path = project.report_paths(run_id)
    plain = to_jsonable(document)
    json_path.write_text(json.dumps(plain, indent=1, allow_nan=False), encoding="utf-8")
    from tailorkit.report.recommendation_report import render_recommendation_report

    html_path.write_text(render_recommendation_report(plain), encoding="utf-8")
    board = pd.DataFrame([{k: v for k, v in r.items() if k != "epochs"} for r in rows])
    return RunResult(
        leaderboard=board,
        best=best["model"],
        report_path=html_path,
        json_path=json_path,
        model_ref=f"{spec.name}:{version.version}",
        gates_passed=gates_passed,
        promoted=False,
        requirements=requirements,
        result=plain,
    )


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
    from tailorkit.models.text_encoder import encode_texts

    say(f"encoding {data.n_items} item texts")
    name = None if spec.text_encoder == "default" else spec.text_encoder
    return encode_texts(data.item_text, name)


def _fit_and_rank(name, family, params, data, split, vectors, popularity, spec):
    from tailorkit.evaluate.ranking import (
        bootstrap_interval,
        coverage,
        evaluate_scorer,
        per_case,
        popularity_bias,
        ranking_metrics,
    )
    from tailorkit.models.recommender import TrainingSequences, Validation, make_recommender

    model = make_recommender(family, **params)
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
    from tailorkit.data.user_segments import MIN_USERS, fit_segments, rank_as_new_users
    from tailorkit.evaluate.ranking import bootstrap_interval, per_case, ranking_metrics

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


def rank_by_validation(rows: list[dict], metric: str) -> list[dict]:
    """Best first by the validation cases' ``metric`` (the champion), rows without one last;
    ties keep the candidates' order. The pretraining ablation competes like any candidate,
    so a transformer keeps its pretraining only where pretraining helps on validation."""
    key = f"valid_{metric}"
    return sorted(rows, key=lambda r: -r[key] if r.get(key) is not None else math.inf)


def _refit(name, candidates, fitted, data, sequences, times, weights, vectors):
    """The winner again on every interaction, for as many epochs as validation chose."""
    from tailorkit.models.recommender import TrainingSequences, make_recommender

    family, params = candidates[name]
    params = dict(params)
    if family == "sasrec":
        epochs = max(1, int(getattr(fitted, "best_epoch_", 1) or 1))
        params["max_epochs"] = epochs + int(getattr(fitted, "average", 0))  # its last 2a+1 mean
        params["cooccurrence_weight"] = float(getattr(fitted, "prior_weight_", 0.0))
    if family == "als" and getattr(fitted, "history_", None):
        params["max_epochs"] = int(np.argmax(fitted.history_)) + 1
    model = make_recommender(family, **params)
    return model.fit(TrainingSequences(sequences, data.n_items, times, weights, vectors))


def _save_serving_state(model_dir, spec, data, sequences, blocked, popularity, segments) -> None:
    """What ``recommend`` needs besides the model: ids, titles, histories, rules, and the
    segments' popularity when validation kept it for users without history."""
    from safetensors.numpy import save_file

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


def _document(
    spec, run_id, version, data, split, rows, best, requirements, gates_passed, blocked
) -> dict[str, Any]:
    ablation = None
    by = {r["model"]: r for r in rows}
    for name, row in by.items():
        twin = by.get(name + ABLATION_SUFFIX)
        if twin:
            chooses = f"valid_{spec.evaluation.metric}"
            keep = (chooses, "hr@10", "ndcg@10", "ndcg@10_ci", "fit_seconds", "best_epoch")
            ranked = rank_by_validation([row, twin], spec.evaluation.metric)
            ablation = {
                "model": name,
                "with": {k: row.get(k) for k in keep},
                "without": {k: twin.get(k) for k in keep},
                "delta_ndcg@10": row["ndcg@10"] - twin["ndcg@10"],
                "kept": "with" if ranked[0] is row else "without",
                "chosen_by": chooses,
            }
    seen = (
        "items the user had before the target are excluded"
        if spec.recommend.exclude_seen
        else "seen items are kept"
    )
    protocol = (
        f"{split.description} Every item in the catalogue is ranked (no sampled negatives); "
        f"{seen}; bootstrap 95% intervals over test users ({spec.evaluation.bootstrap} "
        f"resamples). The champion is the candidate with the best {spec.evaluation.metric} on "
        "the validation cases (early stopping uses them too); the test cases choose nothing."
    )
    return {
        "project": spec.name,
        "solution": "recommendation",
        "run_id": run_id,
        "model_version": version,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "protocol": {
            "kind": split.protocol,
            "title": f"{split.protocol}, full ranking, seen excluded, {len(split.test)} test users",
            "seed": spec.evaluation.seed,
            "description": protocol,
            "cold_items_fraction": spec.evaluation.cold_items_fraction,
        },
        "data": {**data.counts, **split.counts, "blocked_by_rules": int(np.sum(blocked))},
        "leaderboard": rows,
        "best": best["model"],
        "ablation": {"pretraining": ablation} if ablation else {},
        "requirements": requirements,
        "gates_passed": gates_passed,
        "warnings": data.warnings,
    }


# -------------------------------------------------------------- recommend
class Recommendations:
    """A registered recommender ready to answer: histories, ids, rules, fallback."""

    def __init__(self, version) -> None:
        from safetensors.numpy import load_file

        from tailorkit.models.recommender import load_recommender

        folder = Path(version.path)
        state_file = folder / RECOMMENDER_FILE
        if not state_file.exists():
            raise TailorkitError(
                f"{version.project}:{version.version} is not a recommendation model"
            )
        self.version = version
        self.model = load_recommender(folder)
        self.state = json.loads(state_file.read_text())
        arrays = load_file(str(folder / HISTORY_FILE))
        bounds = np.cumsum(arrays["lengths"])[:-1]
        self.histories = np.split(arrays["items"], bounds)
        self.blocked = arrays["blocked"].astype(bool)
        self.popularity = arrays["popularity"]
        self.segments = None
        if self.state.get("segments"):
            from tailorkit.data.user_segments import UserSegments

            self.segments = UserSegments.from_state(
                self.state["segments"], arrays["segment_popularity"]
            )
        self.user_index = {u: i for i, u in enumerate(self.state["user_ids"])}
        self.item_ids = self.state["item_ids"]
        self.titles = self.state["titles"]

    def refresh_rules(self, items_file: str) -> None:
        """Re-apply the rules to a fresh catalogue (e.g. today's stock levels)."""
        from tailorkit.data.interactions import blocked_items, normalize_ids
        from tailorkit.data.io import read_table

        table = read_table(items_file)
        key = self.state["item_key"]
        if key not in table.columns:
            raise DataError(f"{items_file}: item id column '{key}' not found")
        table.index = normalize_ids(table[key])
        aligned = table.reindex(self.item_ids)
        self.blocked = blocked_items(aligned, self.state["rules"], items_file)

    def for_users(
        self,
        users: list[str],
        k: int | None,
        exclude_seen: bool | None,
        attributes: dict[str, dict] | None = None,
    ):
        """One result per user: rows of (rank, item_id, title, score) and how they were made.
        ``attributes`` (user -> {column: value}) places users without history in segments
        the users table did not know them in (a new sign-up's region)."""
        k = int(k or self.state["k"])
        exclude = self.state["exclude_seen"] if exclude_seen is None else exclude_seen
        known = [u for u in users if u in self.user_index]
        results: dict[str, dict] = {}
        if known:
            histories = [self.histories[self.user_index[u]] for u in known]
            items, scores = self.model.recommend(
                histories, k, exclude_seen=exclude, blocked=self.blocked
            )
            for user, row_items, row_scores in zip(known, items, scores, strict=False):
                results[user] = self._result(row_items, row_scores, "personalized", None)
        tops: dict[tuple[str, ...], tuple] = {}  # one ranking per set of segments
        for user in users:
            if user not in results:
                values = self._segment_values(user, (attributes or {}).get(user))
                segments = tuple(self.segments.segments_of(values)) if values else ()
                if segments not in tops:
                    tops[segments] = self._popular(k, values if segments else None)
                why = (
                    "items popular with users of " + ", ".join(segments)
                    if segments
                    else "the most popular items"
                )
                results[user] = self._result(
                    *tops[segments],
                    "segment popularity fallback" if segments else "popularity fallback",
                    f"user '{user}' has no history in this model: recommending {why} "
                    "(cold-start fallback)" + self._unused((attributes or {}).get(user)),
                )
        return [dict(user=u, **results[u]) for u in users], k

    def _segment_values(self, user: str, given: dict | None) -> list[str] | None:
        """A user's segment values: the users table's, overridden by those ``given``."""
        if not self.segments:
            return None
        columns = self.segments.columns
        stored = self.segments.values.get(user, [""] * len(columns))
        given = given or {}
        return [
            s if given.get(c) is None or str(given[c]).strip() == "" else str(given[c]).strip()
            for c, s in zip(columns, stored, strict=True)
        ]

    def _unused(self, given: dict | None) -> str:
        """Why some given attributes were not used (a note), or ""."""
        columns = self.segments.columns if self.segments else []
        unused = sorted(str(name) for name in (given or {}) if name not in columns)
        if not unused:
            return ""
        usable = ", ".join(columns) if columns else "none: this version keeps no user segments"
        return f"; ignored attributes {', '.join(unused)} (user segments: {usable})"

    def _popular(self, k: int, values: list[str] | None) -> tuple[np.ndarray, np.ndarray]:
        """The top k by popularity among everyone, or in the segments of these values."""
        from tailorkit.evaluate.ranking import top_k

        popularity = self.popularity if values is None else self.segments.scores(values)
        scores = np.where(self.blocked, -np.inf, popularity.astype(np.float64))
        order = top_k(scores[None, :], min(k, len(scores)))[0]
        best = scores[order]
        return np.where(np.isfinite(best), order, -1), best

    def _result(self, items, scores, source: str, note: str | None) -> dict:
        rows = [
            {
                "rank": rank,
                "item_id": self.item_ids[i],
                "title": self.titles[i] if i < len(self.titles) else "",
                "score": float(s),
            }
            for rank, (i, s) in enumerate(zip(items, scores, strict=False), start=1)
            if i >= 0 and np.isfinite(s)
        ]
        return {"source": source, "note": note, "items": rows}


def _read_users(source: str, engine: Recommendations) -> tuple[list[str], dict[str, dict]]:
    """The user ids of a batch file and, from its columns that are the model's user
    segments, the attributes of users without history (other columns are ignored)."""
    from tailorkit.data.interactions import normalize_ids
    from tailorkit.data.io import read_table

    table = read_table(source)
    column = next(
        (c for c in table.columns if c.lower() in ("user_id", "userid", "user", "customer_id")),
        table.columns[0],
    )
    values = table[column]
    if values.isna().any():
        row = int(np.argmax(values.isna().to_numpy())) + 2
        raise DataError(f"{source} row {row}: column '{column}' is empty")
    users = list(normalize_ids(values))
    segments = [c for c in (engine.segments.columns if engine.segments else []) if c in table]
    if not segments:
        return users, {}
    frame = table[segments].astype("string").fillna("").to_numpy()
    rows = zip(users, frame, strict=True)
    return users, {u: dict(zip(segments, row, strict=True)) for u, row in rows}


def _write_rows(handle: IO[str], results: list[dict], header: bool = True) -> int:
    """Recommendations as CSV rows (one per item); returns how many."""
    import csv

    writer = csv.writer(handle)
    if header:
        writer.writerow(["user_id", "rank", "item_id", "title", "score", "source"])
    rows = 0
    for result in results:
        for item in result["items"]:
            writer.writerow(
                [
                    result["user"],
                    item["rank"],
                    item["item_id"],
                    item["title"],
                    f"{item['score']:.6g}",
                    result["source"],
                ]
            )
            rows += 1
    return rows


def predict_file(version, source: str, handle: IO[str], chunk_rows: int, warn) -> int:
    """Batch recommendations for the users listed in ``source`` (CSV out, one row per item)."""
    engine = Recommendations(version)
    users, given = _read_users(source, engine)
    rows = fallback = 0
    for start in range(0, len(users), max(1, chunk_rows)):
        results, _ = engine.for_users(users[start : start + chunk_rows], None, None, given)
        fallback += sum(result["source"] != "personalized" for result in results)
        rows += _write_rows(handle, results, header=start == 0)
    if not users:
        _write_rows(handle, [])
    if fallback:
        warn(f"{fallback} users have no history in the model: (segment) popularity fallback")
    return rows


def recommend(
    model: str = typer.Option(..., "--model", "-m", help="name@alias, name:version or name."),
    user: list[str] = typer.Option([], "--user", "-u", help="User id (repeatable)."),
    users: str | None = typer.Option(None, "--users", help="File with a user_id column."),
    k: int | None = typer.Option(None, "-k", "--k", help="How many items (default: spec)."),
    include_seen: bool = typer.Option(False, "--include-seen", help="Allow seen items."),
    items: str | None = typer.Option(
        None, "--items", help="Fresh item catalogue: re-apply the rules (e.g. stock)."
    ),
    workspace: Path | None = typer.Option(None, "--workspace", "-w", help="Workspace folder."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write CSV here."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Top-K items for users of a registered recommendation model."""
    import sys

    from rich.table import Table

    from tailorkit.cli import _default_workspace, console, out
    from tailorkit.registry import Registry

    if not user and not users:
        raise TailorkitError("give --user ID (repeatable) or --users FILE")
    if k is not None and k < 1:
        raise TailorkitError(f"-k must be at least 1 (got {k})")
    registry = Registry(workspace or _default_workspace())
    version = registry.resolve(model)
    engine = Recommendations(version)
    if items:
        engine.refresh_rules(items)
    listed, given = _read_users(users, engine) if users else ([], {})
    exclude = False if include_seen else None
    results, k_used = engine.for_users(list(user) + listed, k, exclude, given)
    catalogue = len(engine.item_ids)
    if k_used > catalogue:
        console.print(
            f"[yellow]warning:[/yellow] k={k_used} is larger than the catalogue "
            f"({catalogue} items); returning every eligible item"
        )
    for result in results:
        if result["note"]:
            console.print(f"[yellow]note:[/yellow] {result['note']}", highlight=False)
    if as_json:
        out.print_json(
            json.dumps(
                {"model": f"{version.project}:{version.version}", "k": k_used, "results": results}
            )
        )
        return
    if output or users:
        handle = open(output, "w", newline="") if output else sys.stdout
        try:
            _write_rows(handle, results)
        finally:
            if output:
                handle.close()
        return
    for result in results:
        table = Table(title=f"user {result['user']}: top {k_used} ({result['source']})")
        for column in ("rank", "item_id", "title", "score"):
            table.add_column(column, justify="right" if column in ("rank", "score") else "left")
        for item in result["items"]:
            table.add_row(str(item["rank"]), item["item_id"], item["title"], f"{item['score']:.4f}")
        out.print(table)


COMMANDS: tuple = (recommend,)

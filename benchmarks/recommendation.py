"""Recommendation benchmark: our models beside the baselines and RecBole, same split.

    PYTHONPATH=. python benchmarks/recommendation.py --dataset ml-latest-small
    PYTHONPATH=. python benchmarks/recommendation.py --dataset online-retail
    PYTHONPATH=. python benchmarks/recommendation.py --table     # merge + print + write JSON

Protocol (both data sets): each user's events sorted by time with a stable sort (ties keep
file order); last = test, second-to-last = validation, the rest = training; every item is
ranked (no sampled negatives); items the user had before the target are excluded; HR, NDCG
@5/10/20, MRR; bootstrap 95% intervals over test users (1,000 resamples, seed 0). Early
stopping uses the validation cases only. Online Retail also runs the cold-start-item split
(10% of items withheld from training entirely, seed 0; test cases whose target is
withheld). RecBole's numbers come from ``benchmarks/recbole_side_by_side.py`` (its own
environment), whose split fingerprint must equal ours.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import log_softmax

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))

from tailorkit.data.interactions import (  # noqa: E402
    Interactions,
    build_interactions,
    leave_one_out,
    withhold_items,
)
from tailorkit.data.user_segments import read_user_attributes  # noqa: E402
from tailorkit.evaluate.ranking import (  # noqa: E402
    bootstrap_interval,
    coverage,
    evaluate_scorer,
    per_case,
    popularity_bias,
    ranking_metrics,
)
from tailorkit.models import make_model  # noqa: E402
from tailorkit.models.recommender import TrainingSequences, Validation  # noqa: E402
from tailorkit.report.recommendation_report import validation_curves  # noqa: E402
from tailorkit.solutions.recommendation.document import (  # noqa: E402
    ABLATION_SUFFIX,
    rank_by_validation,
)
from tailorkit.solutions.recommendation.train import compare_new_users  # noqa: E402

# what `tailorkit run` trains by default; its champion is the best of these on validation
TRANSFORMERS = ("sasrec", "sasrec" + ABLATION_SUFFIX)
SOLUTION = ("popularity", "item_knn", "als", *TRANSFORMERS)
# not a solution candidate: both SASRec bags' networks averaged, measured as a what-if (it
# lost to the bag without pretraining on ml-latest-small's validation cases, so not adopted)
BLEND = "sasrec (blend of both)"
NO_PRIOR = " without prior"  # the same networks, scored without their co-occurrence prior
DATASETS = ROOT.parent.parent / "shared" / "datasets"
RESULTS = ROOT / "results"
CACHE = Path(os.environ.get("TAILORKIT_BENCH_CACHE", "/tmp/tailorkit-bench-cache"))
CI_METRICS = ("hr@10", "ndcg@10", "ndcg@20")


def candidates(threads: int, budget_s: float | None) -> dict[str, tuple[str, dict]]:
    sasrec = {"n_threads": threads, "time_limit": budget_s, "verbose": True}
    return {
        "popularity": ("popularity", {}),
        "popularity (recent)": ("popularity", {"kind": "recent"}),
        "item_knn": ("item_knn", {}),
        "item_knn (recent)": ("item_knn", {"recent": 10}),  # SASRec's co-occurrence prior alone
        "als": ("als", {}),
        "sasrec": ("sasrec", sasrec),
        "sasrec" + ABLATION_SUFFIX: ("sasrec", {**sasrec, "pretrain_epochs": 0}),
        "sasrec (1 seed)": ("sasrec", {**sasrec, "n_seeds": 1}),
    }


# ------------------------------------------------------------------ data
def load_movielens() -> Interactions:
    folder = DATASETS / "ml-latest-small"
    ratings = pd.read_csv(folder / "ratings.csv")
    movies = pd.read_csv(folder / "movies.csv")
    movies["genres"] = movies["genres"].str.replace("|", ", ", regex=False)
    # the catalogue = rated movies, exactly RecBole's item set (full ranking over the same items)
    movies = movies[movies["movieId"].isin(ratings["movieId"])].reset_index(drop=True)
    return build_interactions(
        ratings,
        source="ratings.csv",
        user_col="userId",
        item_col="movieId",
        time_col="timestamp",
        items=movies,
        items_source="movies.csv",
        item_key="movieId",
        text_columns=["title", "genres"],
    )


def online_retail_events() -> pd.DataFrame:
    raw = pd.read_csv(DATASETS / "online-retail-uci" / "online_retail.csv.xz")
    keep = (
        ~raw["InvoiceNo"].astype(str).str.startswith("C")
        & raw["CustomerID"].notna()
        & (raw["Quantity"] > 0)
    )
    return raw[keep].reset_index(drop=True)


def load_online_retail() -> Interactions:
    events = online_retail_events()
    items = (
        events.groupby("StockCode", sort=False)["Description"]
        .agg(lambda s: s.dropna().iloc[0] if s.notna().any() else "")
        .reset_index()
    )
    return build_interactions(
        events,
        source="online_retail.csv.xz",
        user_col="CustomerID",
        item_col="StockCode",
        time_col="InvoiceDate",
        items=items,
        items_source="online_retail.csv.xz (descriptions)",
        item_key="StockCode",
        text_columns=["Description"],
    )


def customer_countries() -> pd.DataFrame:
    """Online Retail's one user attribute: each customer's country (of their first line)."""
    first = online_retail_events().groupby("CustomerID", sort=False)["Country"].first()
    return first.rename_axis("CustomerID").reset_index()


def new_users(args) -> None:
    """Users without history on Online Retail: global against country popularity, the test
    and validation cases ranked as if their users were new (seen items excluded)."""
    data = load_online_retail()
    split = leave_one_out(*data.sequences())
    attributes, _ = read_user_attributes(customer_countries(), "countries", "CustomerID", None)
    comparison = compare_new_users(attributes, data, split, bootstrap=1000, seed=0)
    record = {
        "dataset": "online-retail",
        "split_fingerprint": split_fingerprint(data, split),
        "new_users": comparison,
        "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    _save(RESULTS / "recommendation.online-retail.newusers.json", record)
    for row in comparison["rows"]:
        print(f"[online-retail new users] {row}")


def text_vectors(name: str, data: Interactions) -> np.ndarray:
    """MiniLM vectors of the item texts, cached by content hash (encoding is slow on CPU)."""
    from tailorkit.models.text_encoder import encode_texts

    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"{name}-texts.json"
    known = json.loads(path.read_text()) if path.exists() else {}
    vectors_path = CACHE / f"{name}-vectors.npy"
    stored = np.load(vectors_path) if vectors_path.exists() else np.zeros((0, 384), np.float32)
    missing = sorted({t for t in data.item_text if t not in known})
    if missing:
        fresh = encode_texts(missing)
        for text, row in zip(missing, range(len(stored), len(stored) + len(missing)), strict=False):
            known[text] = row
        stored = np.concatenate([stored, fresh]) if len(stored) else fresh
        np.save(vectors_path, stored)
        path.write_text(json.dumps(known))
    return stored[[known[t] for t in data.item_text]]


def split_fingerprint(data: Interactions, split) -> str:
    """Same hash as recbole_side_by_side.py: 'user:item' for valid then test, by user."""
    parts = []
    for cases in (split.valid, split.test):
        order = np.argsort([float(data.user_ids[u]) for u in cases.users], kind="stable")
        parts.append(
            ";".join(
                f"{data.user_ids[cases.users[i]]}:{data.item_ids[cases.targets[i]]}" for i in order
            )
        )
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


# ------------------------------------------------------------------- run
def evaluate(name, model, data, split, vectors, popularity) -> dict:
    train = TrainingSequences(
        split.train, data.n_items, split.train_times, split.train_weights, vectors
    )
    valid = Validation(split.valid.histories, split.valid.targets)
    started = time.perf_counter()
    model.fit(train, valid)
    fit_s = time.perf_counter() - started
    started = time.perf_counter()
    row = rank(name, model.score, data, split, popularity)
    row["fit_s"] = round(fit_s, 1)
    row["score_s"] = round(time.perf_counter() - started, 1)
    if hasattr(model, "log_"):
        row["epochs"] = [e for e in model.log_]
        row["best_epoch"] = model.best_epoch_
        row["pretrain_s"] = round(model.pretrain_seconds_, 1)
    if getattr(model, "prior_", None) is not None:
        row["prior_weight"] = model.prior_weight_
        row["prior_validation"] = getattr(model, "prior_validation_", None)
    return row


def without_prior(row: dict, model, data, split, popularity) -> dict:
    """The same fitted networks scored without their co-occurrence prior (the ablation)."""
    weight, model.prior_weight_ = model.prior_weight_, 0.0
    ablation = rank(row["model"] + NO_PRIOR, model.score, data, split, popularity)
    model.prior_weight_ = weight
    return {**ablation, **{k: row[k] for k in ("fit_s", "epochs", "best_epoch") if k in row}}


def rank(name, score, data, split, popularity) -> dict:
    """A row of test metrics (with intervals) and the validation NDCG@10 that chooses; the
    row keeps each case set's log-softmax scores (``_scores``) for blends."""
    kept: dict[str, list] = {"valid": [], "test": []}

    def keeping(part):
        def scored(histories):
            out = score(histories)
            kept[part].append(log_softmax(np.asarray(out, np.float64), axis=1).astype(np.float32))
            return out

        return scored

    valid_ranks, _ = evaluate_scorer(
        keeping("valid"), split.valid.histories, split.valid.targets, data.n_items
    )
    ranks, tops = evaluate_scorer(
        keeping("test"), split.test.histories, split.test.targets, data.n_items
    )
    row = {"model": name, **ranking_metrics(ranks)}
    for metric in CI_METRICS:
        row[f"{metric}_ci"] = list(bootstrap_interval(ranks, metric, 1000, seed=0))
    row["coverage@10"] = coverage(tops, data.n_items, 10)
    row["popularity_bias@10"] = popularity_bias(tops, popularity, 10)
    row["valid_ndcg@10"] = ranking_metrics(valid_ranks, (10,))["ndcg@10"]  # what chooses
    row["_ranks"] = ranks.tolist()
    row["_scores"] = {part: np.concatenate(parts) for part, parts in kept.items() if parts}
    return row


def blend(rows: list[dict], data, split, popularity) -> dict:
    """The SASRec variants' networks as one bag: the mean of their log-softmax scores (each
    bag's score is already its members' mean; equal-sized bags weigh every network alike).
    Its training time is the variants' together; its networks keep their logs."""
    scores = np.concatenate(
        [np.mean([r["_scores"][part] for r in rows], axis=0) for part in ("valid", "test")]
    )
    served = 0

    def replay(histories):  # rank() asks for the validation cases, then the test cases
        nonlocal served
        served += len(histories)
        return scores[served - len(histories) : served]

    row = rank(BLEND, replay, data, split, popularity)
    row["fit_s"] = round(sum(r["fit_s"] for r in rows), 1)
    offset, row["epochs"] = 0, []
    for r in rows:
        row["epochs"] += [{**e, "member": e.get("member", 0) + offset} for e in r["epochs"]]
        offset += len({e.get("member", 0) for e in r["epochs"]})
    return row


def run_dataset(key: str, args) -> None:
    loader = {"ml-latest-small": load_movielens, "online-retail": load_online_retail}[key]
    started = time.perf_counter()
    data = loader()
    seqs, times = data.sequences()
    split = leave_one_out(seqs, times, data.weight_sequences())  # ALS's confidence
    vectors = text_vectors(key, data)
    print(f"[{key}] {data.counts} {split.counts} ({time.perf_counter() - started:.0f}s)")
    popularity = np.bincount(np.concatenate(split.train), minlength=data.n_items) / data.n_users
    models = candidates(args.threads, args.budget_min * 60 if args.budget_min else None)
    chosen = args.models.split(",") if args.models else list(models)
    record = {
        "dataset": key,
        "counts": data.counts,
        "split": split.counts,
        "protocol": split.description,
        "split_fingerprint": split_fingerprint(data, split),
        "threads": args.threads,
        "rows": [],
        "warnings": data.warnings,
    }
    out = RESULTS / f"recommendation.{key}{'.' + args.tag if args.tag else ''}.json"

    def run(names, split, popularity, rows, label):
        for name in names:
            family, params = models[name]
            model = make_model(family, **params)
            rows.append(evaluate(name, model, data, split, vectors, popularity))
            print(f"[{label}] {_line(rows[-1])}", flush=True)
            if "prior_weight" in rows[-1]:
                rows.append(without_prior(rows[-1], model, data, split, popularity))
                print(f"[{label}] {_line(rows[-1])}", flush=True)
            _save(out, record)
        both = [r for r in rows if r["model"] in TRANSFORMERS]
        if len(both) == len(TRANSFORMERS):
            rows.append(blend(both, data, split, popularity))
            print(f"[{label}] {_line(rows[-1])}", flush=True)
        for row in rows:
            row.pop("_scores", None)
        _save(out, record)

    run([] if args.only_cold else chosen, split, popularity, record["rows"], key)
    if key == "online-retail" and not args.skip_cold:
        cold = withhold_items(split, data.n_items, 0.1, seed=0)
        record["cold_split"] = {
            "description": cold.description,
            **cold.counts,
            "test_cases": len(cold.test),
        }
        record["cold_rows"] = []
        cold_pop = np.bincount(np.concatenate(cold.train), minlength=data.n_items) / data.n_users
        run(args.cold_models.split(","), cold, cold_pop, record["cold_rows"], f"{key} cold items")
    record["finished_utc"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    _save(out, record)


def _line(row: dict) -> str:
    return (
        f"{row['model']:<26} HR@10 {row['hr@10']:.4f} NDCG@10 {row['ndcg@10']:.4f} "
        f"NDCG@20 {row['ndcg@20']:.4f} cov@10 {row['coverage@10']:.3f} "
        f"pop@10 {row['popularity_bias@10']:.3f} fit {row['fit_s']}s"
    )


def _save(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_plain(record), indent=1))


def _plain(value):
    """The record without the rows' score arrays (kept in memory for blends only)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k != "_scores"}
    return [_plain(v) for v in value] if isinstance(value, list) else value


# ------------------------------------------------------------------ table
def recbole_rows(fingerprint: str) -> list[dict]:
    rows = []
    for name in ("recbole_bpr_pop.json", "recbole_side_by_side.json"):
        path = RESULTS / name
        if not path.exists():
            continue
        doc = json.loads(path.read_text())
        if doc.get("split_fingerprint") != fingerprint:
            raise SystemExit(f"{path}: RecBole's split differs from ours (fingerprint)")
        for model, entry in doc["models"].items():
            if "test_ranks" not in entry or any(r["model"] == f"RecBole {model}" for r in rows):
                continue
            ranks = np.array(list(entry["test_ranks"].values()))
            row = {"model": f"RecBole {model}", **ranking_metrics(ranks)}
            row["_user_ranks"] = entry["test_ranks"]
            for metric in CI_METRICS:
                row[f"{metric}_ci"] = list(bootstrap_interval(ranks, metric, 1000, seed=0))
            row["fit_s"] = entry.get("train_s")
            row["epochs_run"] = entry.get("n_epochs_run")
            row["sec_per_epoch"] = entry.get("sec_per_epoch")
            row["best_epoch"] = entry.get("best_epoch")
            row["converged"] = entry.get("converged")
            row["threads"] = entry.get("threads", doc.get("threads"))
            row["stopped_by"] = entry.get("stopped_by")
            rows.append(row)
    return rows


def paired_ratios(rows: list[dict]) -> dict:
    """Our SASRec rows' NDCG@10 over RecBole SASRec's with a paired bootstrap interval (the
    same resampled test users for both, 1,000 resamples, seed 0). RecBole's ranks are keyed by
    user id; ours follow the split's user order, checked to be the same users."""
    by = {r["model"]: r for r in rows}
    rec = by.get("RecBole SASRec")
    if not rec or "_user_ranks" not in rec:
        return {}
    users = [str(u) for u in load_movielens().user_ids]
    if list(rec["_user_ranks"]) != users:
        raise SystemExit("RecBole's test users are not the split's users in the same order")
    theirs = per_case(np.array(list(rec["_user_ranks"].values())), "ndcg@10")
    draws = np.random.default_rng(0).integers(0, len(theirs), size=(1000, len(theirs)))
    out = {}
    for name in by:
        if name.startswith("sasrec") and len(by[name].get("_ranks", [])) == len(theirs):
            ours = per_case(np.array(by[name]["_ranks"]), "ndcg@10")
            ratios = ours[draws].mean(1) / theirs[draws].mean(1)
            low, high = np.quantile(ratios, [0.025, 0.975])
            out[name] = {"ratio": ours.mean() / theirs.mean(), "ci95": [low, high]}
    return out


def table() -> None:
    document = {"protocol": __doc__.split("Protocol")[1].strip(), "datasets": {}}
    for key in ("ml-latest-small", "online-retail"):
        path = RESULTS / f"recommendation.{key}.json"
        if not path.exists():
            continue
        record = json.loads(path.read_text())
        for extra in sorted(RESULTS.glob(f"recommendation.{key}.*.json")):
            part = json.loads(extra.read_text())
            if part["split_fingerprint"] != record["split_fingerprint"]:
                raise SystemExit(f"{extra}: a different split")
            record["rows"] += part.get("rows", [])
            if "new_users" in part:
                record["new_users"] = part["new_users"]
            if "cold_split" in part:
                record["cold_split"] = part["cold_split"]
                record["cold_rows"] = record.get("cold_rows", []) + part["cold_rows"]
        rows = record["rows"]
        if key == "ml-latest-small":
            rows = rows + recbole_rows(record["split_fingerprint"])
            record["paired_vs_recbole_sasrec"] = paired_ratios(rows)
        for row in rows + record.get("cold_rows", []):
            row.pop("_ranks", None)
            row.pop("_user_ranks", None)
        record["rows"] = rows
        record["targets"] = targets(key, record)
        document["datasets"][key] = record
        print(f"\n{key} ({record['split'].get('test_cases')} test users)")
        print(
            f"{'model':<28}{'valid':>8}{'HR@10':>8}{'NDCG@10':>9}{'NDCG@20':>9}"
            "  NDCG@10 95% CI   fit s"
        )
        for row in rows:
            ci = row.get("ndcg@10_ci") or [float("nan")] * 2
            print(
                f"{row['model']:<28}{_fmt(row.get('valid_ndcg@10'), 4):>8}"
                f"{row['hr@10']:>8.4f}{row['ndcg@10']:>9.4f}"
                f"{row['ndcg@20']:>9.4f}  [{ci[0]:.4f}, {ci[1]:.4f}]  {row.get('fit_s')}"
            )
        for row in record.get("cold_rows", []):
            print(f"  cold-start items: {row['model']:<26} HR@10 {row['hr@10']:.4f}")
        for name, outcome in record["targets"].items():
            print(f"  target {name}: {outcome}")
        for name, paired in record.get("paired_vs_recbole_sasrec", {}).items():
            low, high = paired["ci95"]
            ratio = paired["ratio"]
            print(f"  {name} / RecBole SASRec NDCG@10: {ratio:.2f} [{low:.2f}, {high:.2f}]")
    (RESULTS / "recommendation.json").write_text(json.dumps(document, indent=1))
    (RESULTS / "recommendation.tables.md").write_text(markdown(document))
    print(f"\nwrote {RESULTS / 'recommendation.json'}")


def markdown(document: dict) -> str:
    """The result tables in Markdown (pasted into BENCHMARKS.md)."""
    lines = []
    for key, record in document["datasets"].items():
        lines += [
            f"### {key} ({record['split'].get('test_cases')} test users)",
            "",
            "| model | valid NDCG@10 | HR@10 | NDCG@10 (95% CI) | NDCG@20 | MRR | coverage@10 "
            "| pop. bias@10 | train s | epochs (best) |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        chosen = champion({r["model"]: r for r in record["rows"]})
        for row in record["rows"]:
            ci = row.get("ndcg@10_ci") or [float("nan")] * 2
            members = fine_tuning(row)
            epochs = (
                " / ".join(f"{run} ({best})" for run, best in members)
                if members
                else (
                    f"{row.get('epochs_run')} ({row.get('best_epoch')})"
                    if "epochs_run" in row
                    else ""
                )
            )
            name = f"**{row['model']}** (champion)" if chosen and row is chosen[0] else row["model"]
            lines.append(
                f"| {name} | {_fmt(row.get('valid_ndcg@10'), 4)} | {row['hr@10']:.4f} "
                f"| {row['ndcg@10']:.4f} "
                f"[{ci[0]:.4f}, {ci[1]:.4f}] | {row['ndcg@20']:.4f} | {row.get('mrr', 0):.4f} | "
                f"{_fmt(row.get('coverage@10'))} | {_fmt(row.get('popularity_bias@10'))} | "
                f"{row.get('fit_s')} | {epochs} |"
            )
        if record.get("cold_rows"):
            lines += [
                "",
                "Cold-start items (" + record["cold_split"]["description"] + ")",
                "",
                "| model | cold-item HR@10 | NDCG@10 | test cases |",
                "|---|---|---|---|",
            ]
            for row in record["cold_rows"]:
                lines.append(
                    f"| {row['model']} | {row['hr@10']:.4f} | {row['ndcg@10']:.4f} | "
                    f"{record['cold_split']['test_cases']} |"
                )
        if record.get("new_users"):
            lines += ["", *new_users_table(record["new_users"])]
        lines += [""] + [f"- {name}: {outcome}" for name, outcome in record["targets"].items()]
        for name, paired in record.get("paired_vs_recbole_sasrec", {}).items():
            low, high = paired["ci95"]
            lines.append(
                f"- {name} / RecBole SASRec NDCG@10, paired bootstrap over the same test users "
                f"(1,000 resamples, seed 0): {paired['ratio']:.2f} [{low:.2f}, {high:.2f}]"
            )
        lines.append("")
    return "\n".join(lines)


def new_users_table(comparison: dict) -> list[str]:
    lines = [
        f"Users without history ({comparison['test_cases']} test cases ranked as if their users "
        f"were new; segments: {', '.join(comparison['columns'])}, "
        f"{len(comparison['segments'])} of at least {comparison['min_users']} users; validation "
        f"keeps {'segments' if comparison['kept'] else 'global popularity'})",
        "",
        "| fallback | valid NDCG@10 | HR@10 | NDCG@10 (95% CI) |",
        "|---|---|---|---|",
    ]
    for row in comparison["rows"]:
        ci = row.get("ndcg@10_ci") or [float("nan")] * 2
        lines.append(
            f"| {row['model']} | {_fmt(row.get('valid_ndcg@10'), 4)} | {row['hr@10']:.4f} | "
            f"{row['ndcg@10']:.4f} [{ci[0]:.4f}, {ci[1]:.4f}] |"
        )
    return lines


def _fmt(value, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def fine_tuning(row: dict) -> list[tuple[int, int]]:
    """(epochs run, best epoch) of each network of a SASRec row (a seed bag has several)."""
    return [
        (len(points), int(np.argmax([e["valid_ndcg@10"] for e in points])) + 1)
        for points in validation_curves(row.get("epochs", []))
    ]


PATIENCE = 5  # SASRec's default early-stopping patience


def champion(by: dict[str, dict]) -> tuple[dict, float] | None:
    """What `tailorkit run` registers: the solution's candidate with the best validation
    NDCG@10 (the solution's own rule), and its training time: a transformer champion's
    includes both SASRec variants, since both are trained to choose."""
    rows = [by[name] for name in SOLUTION if name in by]
    if not rows:
        return None
    best = rank_by_validation(rows, "ndcg@10")[0]
    transformer = best["model"] in TRANSFORMERS
    fit_s = sum(by[n]["fit_s"] for n in TRANSFORMERS if n in by) if transformer else best["fit_s"]
    return best, fit_s


def targets(key: str, record: dict) -> dict:
    by = {r["model"]: r for r in record["rows"]}
    chosen = champion(by)
    if not chosen:
        return {}
    ours, fit_s = chosen
    valid = ", ".join(
        f"{n} {by[n]['valid_ndcg@10']:.4f}"
        for n in SOLUTION
        if by.get(n, {}).get("valid_ndcg@10") is not None
    )
    out = {
        "champion (what `tailorkit run` registers)": f"{ours['model']}; validation NDCG@10: {valid}"
    }
    if key == "ml-latest-small":
        pop, rec = by.get("popularity"), by.get("RecBole SASRec")
        if pop:
            ratio = ours["ndcg@10"] / pop["ndcg@10"]
            out["ndcg@10 >= 1.5x popularity"] = (
                f"{ratio:.2f}x ({'met' if ratio >= 1.5 else 'MISSED'})"
            )
        if rec:
            ratio = ours["ndcg@10"] / rec["ndcg@10"]
            converged = bool(rec.get("converged"))
            out["ndcg@10 >= 1.15x converged RecBole SASRec"] = (
                f"{ratio:.2f}x RecBole SASRec's best checkpoint after "
                f"{rec.get('epochs_run')} epoch(s) "
                f"({'converged' if converged else 'not converged'}): "
                + (
                    ("met" if converged else "NOT DEMONSTRATED (RecBole not converged)")
                    if ratio >= 1.15
                    else "MISSED"
                )
            )
            members = fine_tuning(ours)
            stopped = all(run - best >= PATIENCE for run, best in members)
            runs = " / ".join(f"{run} epochs (best {best})" for run, best in members)
            how = (
                f"{len(members)} networks side by side, one thread each"
                if len(members) > 1
                else "one thread"
            )
            out["our SASRec converged"] = (
                f"{'yes' if stopped else 'NO'}: early stopping (patience {PATIENCE}) after "
                f"{runs}; {how}"
            )
            if converged and rec.get("fit_s") and fit_s:
                speed = rec["fit_s"] / fit_s
                out["training >= 5x faster than RecBole SASRec"] = (
                    f"{speed:.1f}x: RecBole {rec['fit_s']:.0f} s to convergence "
                    f"({rec.get('epochs_run')} epochs, {rec.get('threads')} thread(s)), ours "
                    f"{fit_s:.0f} s (both SASRec bags, with and without pretraining, as the "
                    "solution trains them to choose); both wall clock on this 2-core machine "
                    "beside other jobs: " + ("met" if speed >= 5 else "MISSED")
                )
    else:
        others = [r for n, r in by.items() if not n.startswith("sasrec")]
        best = max(others, key=lambda r: r["ndcg@10"]) if others else None
        if best:
            out["ndcg@10 above every baseline"] = (
                f"{ours['ndcg@10']:.4f} vs best baseline {best['model']} {best['ndcg@10']:.4f} "
                f"({'met' if ours['ndcg@10'] > best['ndcg@10'] else 'MISSED'})"
            )
        cold = {r["model"]: r for r in record.get("cold_rows", [])}
        if ours["model"] in cold:
            out["cold-start-item HR@10 well above zero"] = (
                f"{ours['model']} {cold[ours['model']]['hr@10']:.4f} vs popularity "
                f"{cold.get('popularity', {}).get('hr@10', float('nan')):.4f}"
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=("ml-latest-small", "online-retail"))
    parser.add_argument("--models", default="", help="comma-separated subset")
    parser.add_argument(
        "--cold-models", default="popularity,item_knn,als," + ",".join(TRANSFORMERS)
    )
    parser.add_argument("--skip-cold", action="store_true")
    parser.add_argument("--only-cold", action="store_true", help="just the cold-item split")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--budget-min",
        type=float,
        default=None,
        help="opt-in wall-clock cap per transformer fit (a seed bag shares it); default: none, "
        "the epoch budget with early stopping decides",
    )
    parser.add_argument("--table", action="store_true", help="merge results and print")
    parser.add_argument("--tag", default="", help="results file suffix (parallel runs)")
    parser.add_argument(
        "--new-users", action="store_true", help="Online Retail: country popularity for new users"
    )
    args = parser.parse_args()
    if args.new_users:
        new_users(args)
    elif args.dataset:
        run_dataset(args.dataset, args)
    if args.table or not args.dataset:
        table()


if __name__ == "__main__":
    main()

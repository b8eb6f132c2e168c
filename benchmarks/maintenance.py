"""Predictive-maintenance benchmark on real public data (not part of the unit tests).

C-MAPSS FD001 (``../shared/datasets/cmapss``): the models are trained on the 100 training
engines (run to failure) with the solution's defaults (window 30, RUL cap 125, constant
sensors dropped, per-condition z-scores, each model's inner early-stopping split of 15% of
the training engines, grouped by engine). The C-MAPSS test protocol: one prediction per test
engine at its last observed cycle against RUL_FD001.txt; RMSE and the PHM08 score; mean and
std over seeds. The solution's default life context (each sensor's drift from the engine's
first 30 cycles, and the engine's age) is on; ``--no-life-context`` runs the ablation, whose
rows are named "... (no life context)". The ensembles average the four pretrained families
with equal weights, and with non-negative least-squares weights fitted on the inner
validation engines.
Nothing is tuned on the test engines: the maintenance policy's parameters are chosen on the
inner validation engines (carved from the training engines, truncated at random cycles like
the test set), then the policy is simulated on the test fleet against run-to-failure and the
best fixed interval (chosen with hindsight on the test fleet).

AI4I 2020 (``../shared/datasets/ai4i2020``): target ``Machine failure``; the failure-mode
columns TWF, HDF, PWF, OSF, RNF leak the label (the profiler's leakage check is run to show
it flags them) and are dropped with the ids UDI and Product ID;
StratifiedKFold(5, shuffle=True, random_state=0), pooled out-of-fold AUROC, PR-AUC and F1.

    python benchmarks/maintenance.py cmapss --seed 0     # one seed (run seeds in parallel)
    python benchmarks/maintenance.py ai4i
    python benchmarks/maintenance.py report               # merge, print, write the JSON
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tailorkit.data.sensors import (  # noqa: E402
    LifeContext,
    SensorNormalizer,
    check_readings,
    sliding_windows,
)
from tailorkit.evaluate.maintenance_policy import (  # noqa: E402
    Costs,
    LifeForecast,
    choose_policy,
    compare_policies,
)
from tailorkit.evaluate.rul_metrics import rul_metrics  # noqa: E402
from tailorkit.models import make_model  # noqa: E402
from tailorkit.models.sensor_base import inner_split  # noqa: E402
from tailorkit.models.sensor_ensemble import WindowEnsemble  # noqa: E402
from tailorkit.solutions.maintenance.spec import MODEL_FAMILIES  # noqa: E402

SHARED = ROOT.parent / "shared" / "datasets"
RESULTS = ROOT / "benchmarks" / "results"
WINDOW, CAP, HORIZON = 30, 125.0, 30
SMOOTH_LAST = 5  # temporal smoothing: average of the last 5 forecasts moved to the last cycle
ANCHORS = {  # FD001, same protocol (RMSE, PHM08 score)
    "deep LSTM (Zheng et al. 2017)": (16.14, 338),
    "TCNN-Transformer (2021)": (11.40, 254),
    "MTSTAN (best reported)": (10.97, 175),
}
AI4I_PEERS = {  # pooled OOF AUROC, measured by the author under the same protocol
    "logistic regression": 0.896,
    "LightGBM defaults": 0.978,
    "AutoGluon medium_quality": 0.977,
}
CONFIGS = (  # (row name, family, params)
    ("lightgbm", "lightgbm", {}),
    ("cnn", "cnn", {}),
    ("lstm", "lstm", {}),
    ("transformer", "transformer", {}),
    ("transformer (no pretraining)", "transformer", {"pretrain": False}),
    ("cnn (no pretraining)", "cnn", {"pretrain": False}),
    ("lstm (no pretraining)", "lstm", {"pretrain": False}),
)
ENSEMBLE_MEMBERS = ("lightgbm", "cnn", "lstm", "transformer")
NO_CONTEXT = " (no life context)"
SENSORS = [f"s{i}" for i in range(1, 22)]
SETTINGS = ["setting_1", "setting_2", "setting_3"]


# ------------------------------------------------------------------------- C-MAPSS
def load_cmapss():
    folder = SHARED / "cmapss"
    names = ["engine", "cycle", *SETTINGS, *SENSORS]

    def read(name):
        frame = pd.read_csv(folder / name, sep=r"\s+", header=None, names=names)
        frame, _ = check_readings(
            frame, asset="engine", time="cycle", sensors=SENSORS + SETTINGS, source=name
        )
        return frame

    train, test = read("train_FD001.txt"), read("test_FD001.txt")
    truth = np.loadtxt(folder / "RUL_FD001.txt")
    return train, test, truth


QUICK = {"lightgbm": {"n_estimators": 20}, "default": {"max_epochs": 1, "pretrain_epochs": 1}}


def cmapss_seed(
    seed: int, configs: list[str] | None, quick: bool = False, part: str = "", context: bool = True
) -> None:
    train, test, truth = load_cmapss()
    normalizer = SensorNormalizer(sensors=SENSORS, settings=SETTINGS, random_state=seed).fit(train)
    train_values, test_values = normalizer.transform(train), normalizer.transform(test)
    label = "" if context else NO_CONTEXT
    if context:  # fitted on the training engines only, applied causally per engine
        life = LifeContext(baseline=WINDOW).fit(train["cycle"], train["engine"])
        train_values = life.transform(train_values, train["cycle"], train["engine"])
        test_values = life.transform(test_values, test["cycle"], test["engine"])
    rul = (train.groupby("engine")["cycle"].transform("max") - train["cycle"]).to_numpy(float)
    windows = sliding_windows(train_values, train["engine"].to_numpy(), WINDOW)
    target = np.minimum(rul[windows.end], CAP).astype(np.float32)
    failure = (rul[windows.end] <= HORIZON).astype(np.float32)
    test_engines = test["engine"].to_numpy()
    test_all = sliding_windows(test_values, test_engines, WINDOW)
    last = sliding_windows(test_values, test_engines, WINDOW, last_only=True)
    truth_by_engine = dict(zip(np.arange(1, len(truth) + 1), truth, strict=False))
    true_last = np.array([truth_by_engine[int(e)] for e in last.asset])
    recent = _recent_windows(test_all, last.asset, SMOOTH_LAST)
    _, valid_rows = inner_split(windows.asset, 0.15, seed)
    valid_engines = np.unique(windows.asset[valid_rows])

    suffix = (
        ("_quick" if quick else "")
        + (f"_{part}" if part else "")
        + ("" if context else "_nocontext")
    )
    out_path = RESULTS / f"maintenance_cmapss_seed{seed}{suffix}.json"
    document = json.loads(out_path.read_text()) if out_path.exists() else {}
    document.update(
        {
            "seed": seed,
            "sensors_used": normalizer.kept_,
            "constant_sensors_dropped": normalizer.dropped_,
            "validation_engines": [int(e) for e in valid_engines],
            "train_windows": int(len(target)),
            "life_context": context,
        }
    )
    document.setdefault("models", {})
    fitted = {}
    for name, family, params in CONFIGS:
        if configs and name not in configs:
            continue
        started = time.perf_counter()
        if quick:
            params = {**params, **QUICK.get(family, QUICK["default"])}
        model = make_model(MODEL_FAMILIES[family], random_state=seed, **params)
        model.fit(windows.values, target, failure=failure, groups=windows.asset)
        seconds = time.perf_counter() - started
        fitted[name] = model
        name += label
        row = _score_model(model, last.values, true_last, recent)
        row["fit_seconds"] = round(seconds, 1)
        row["pretrain_seconds"] = round(getattr(model, "pretrain_seconds_", 0.0), 1)
        row["best_epoch"] = getattr(model, "best_epoch_", None)
        row["validation_rmse"] = getattr(model, "validation_rmse_", None)
        document["models"][name] = row
        print(f"seed {seed} {name}: {row}", flush=True)
        if name == ENSEMBLE_MEMBERS[-1] + label:
            held_out = _fit_without(windows, target, failure, valid_rows, seed, quick)
            _ensembles(
                fitted, held_out, document, windows, target, valid_rows, last, true_last, recent,
                label, lambda model, tuning: _policy(
                    model, tuning, windows, rul, train, valid_engines, test, test_all,
                    truth_by_engine, seed,
                ),
            )  # fmt: skip
        out_path.write_text(json.dumps(document, indent=1))
    out_path.write_text(json.dumps(document, indent=1))


def _fit_without(windows, target, failure, valid_rows, seed, quick) -> list:
    """The four members again, fitted without the inner validation engines: their forecasts
    on those engines are out of sample. (The members in the table use every training engine;
    LightGBM's final boosters are refit on all of them, so its forecasts there are in-sample
    and would win any weighting or policy choice made on them.)"""
    keep = np.setdiff1d(np.arange(len(target)), valid_rows)
    members = []
    for family in ENSEMBLE_MEMBERS:
        params = QUICK.get(family, QUICK["default"]) if quick else {}
        model = make_model(MODEL_FAMILIES[family], random_state=seed, **params)
        model.fit(windows.values[keep], target[keep], failure=failure[keep],
                  groups=windows.asset[keep])  # fmt: skip
        members.append(model)
    return members


def _ensembles(
    fitted, held_out, document, windows, target, valid_rows, last, true_last, recent, label, policy
):
    """Equal- and validation-weighted ensembles of the four families, then the policy.

    Weights (non-negative least squares) and the choice between the two ensembles for the
    policy are made on the inner validation engines with ``held_out`` members (fitted without
    those engines); the test rows use the same weights on the members fitted on every engine.
    """
    members = [fitted[n] for n in ENSEMBLE_MEMBERS if n in fitted]
    if len(members) == len(ENSEMBLE_MEMBERS):
        X, y = windows.values[valid_rows], target[valid_rows]
        weights = _validation_weights(held_out, X, y)
        candidates = {"ensemble (equal weights)": [1.0] * len(members),
                      "ensemble (validation weights)": weights}  # fmt: skip
        validation_rmse = {}
        for name, member_weights in candidates.items():
            tuning = WindowEnsemble.of(held_out, member_weights)
            validation_rmse[name] = float(np.sqrt(np.mean((tuning.predict(X) - y) ** 2)))
            row = _score_model(WindowEnsemble.of(members, member_weights), last.values,
                               true_last, recent)  # fmt: skip
            row["validation_rmse_held_out"] = validation_rmse[name]
            row["weights"] = dict(zip(ENSEMBLE_MEMBERS, member_weights, strict=True))
            document["models"][name + label] = row
        chosen = min(validation_rmse, key=validation_rmse.get)
        document["policy" + label] = policy(
            WindowEnsemble.of(members, candidates[chosen]),
            WindowEnsemble.of(held_out, candidates[chosen]),
        )
        document["policy" + label]["model"] = chosen + label
        row = document["models"]["ensemble (validation weights)" + label]
        seed = document["seed"]
        print(f"seed {seed} ensemble: {document['models']['ensemble (equal weights)' + label]}")
        print(f"seed {seed} weighted ensemble: {row}")
        print(f"seed {seed} policy: {json.dumps(document['policy' + label], indent=1)}", flush=True)


def _validation_weights(members, X, y) -> list[float]:
    """Non-negative least-squares weights on the inner validation engines (sum to 1)."""
    from scipy.optimize import nnls

    predictions = np.column_stack([m.predict(X) for m in members])
    weights, _ = nnls(predictions, y.astype(float))
    if weights.sum() <= 0:
        return [1.0 / len(members)] * len(members)
    return (weights / weights.sum()).tolist()


def _recent_windows(windows, engines, k: int):
    """The last ``k`` windows of each engine (in ``engines`` order) and their step offsets."""
    rows, owner, offset = [], [], []
    for number, engine in enumerate(engines):
        mine = np.flatnonzero(windows.asset == engine)[-k:][::-1]
        rows.extend(mine)
        owner.extend([number] * len(mine))
        offset.extend(range(len(mine)))
    return windows.values[np.array(rows)], np.array(owner), np.array(offset, float)


def _score_model(model, last_windows, true_last, recent) -> dict:
    predicted = model.predict_distribution(last_windows)
    row = rul_metrics(predicted["rul"], true_last)
    values, owner, offset = recent
    earlier = model.predict(values) - offset  # RUL now = RUL i steps ago - i
    smoothed = np.bincount(owner, earlier) / np.bincount(owner)
    row["smoothed"] = rul_metrics(np.clip(smoothed, 0, None), true_last)
    row["band_coverage"] = float(
        np.mean((true_last >= predicted["rul_low"]) & (true_last <= predicted["rul_high"]))
    )
    return row


def _policy(model, tuning, windows, rul, train, valid_engines, test, test_all, truth, seed) -> dict:
    """Alpha and offset chosen with ``tuning`` (fitted without the validation engines) on
    those engines cut at random cycles; then ``model`` runs the policy on the test fleet."""
    costs = Costs()
    valid = np.isin(windows.asset, valid_engines)
    forecast = tuning.predict_distribution(windows.values[valid])
    cycles = train["cycle"].to_numpy(float)[windows.end[valid]]
    failure_at = cycles + rul[windows.end[valid]]
    assets = windows.asset[valid]
    rng = np.random.default_rng(seed)
    validation_lives = []
    for engine in valid_engines:
        rows = np.flatnonzero(assets == engine)
        for _ in range(5):  # truncated like the test set
            cut = int(rng.integers(min(31, len(rows)), len(rows) + 1))
            keep = rows[:cut]
            validation_lives.append(_life(forecast, keep, cycles[keep], failure_at[rows[0]]))
    chosen = choose_policy(validation_lives, costs)
    test_forecast = model.predict_distribution(test_all.values)
    test_cycles = test["cycle"].to_numpy(float)[test_all.end]
    test_lives = []
    for engine in np.unique(test_all.asset):
        rows = np.flatnonzero(test_all.asset == engine)
        rows = rows[np.argsort(test_cycles[rows])]
        failure_time = test_cycles[rows[-1]] + truth[int(engine)]
        test_lives.append(_life(test_forecast, rows, test_cycles[rows], failure_time))
    result = compare_policies(test_lives, costs, chosen["alpha"], chosen["offset"], horizon=1000)
    result["costs"] = costs.__dict__
    result["chosen_on_validation"] = chosen
    return result


def _life(forecast, rows, times, failure_time) -> LifeForecast:
    return LifeForecast(
        times=times,
        low=forecast["rul_low"][rows],
        median=forecast["rul"][rows],
        high=forecast["rul_high"][rows],
        failure_time=float(failure_time),
        start_time=0.0,
    )


# ---------------------------------------------------------------------------- AI4I
def ai4i() -> None:
    from sklearn.metrics import average_precision_score, f1_score, roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    from tailorkit.data.profile import profile_table

    frame = pd.read_csv(SHARED / "ai4i2020" / "ai4i2020.csv", encoding="utf-8-sig")
    target = "Machine failure"
    leaky = ["TWF", "HDF", "PWF", "OSF", "RNF"]
    profile = profile_table(frame.drop(columns=["UDI", "Product ID"]), target=target)
    flagged = sorted({i["column"] for i in profile.get("issues", []) if i.get("kind") == "leakage"})
    rnf_with_failure = int(frame.loc[frame["RNF"] == 1, target].sum())
    raw = frame.drop(columns=[target, "UDI", "Product ID", *leaky])
    physics = with_physics_features(raw)
    y = frame[target].to_numpy(int)
    folds = list(StratifiedKFold(n_splits=5, shuffle=True, random_state=0).split(raw, y))
    results = {}
    for name, family, X in (
        ("logistic (raw columns)", "logistic", raw),
        ("lightgbm (raw columns)", "lightgbm", raw),
        ("logistic + physics features", "logistic", physics),
        ("lightgbm + physics features", "lightgbm", physics),
    ):
        oof = np.zeros(len(y))
        started = time.perf_counter()
        for train, valid in folds:
            model = make_model(family, random_state=0)
            model.fit(X.iloc[train], y[train])
            oof[valid] = model.predict_proba(X.iloc[valid])[:, 1]
        results[name] = {
            "auroc": float(roc_auc_score(y, oof)),
            "pr_auc": float(average_precision_score(y, oof)),
            "f1_at_0.5": float(f1_score(y, oof > 0.5)),
            "f1_best_threshold_oof": _best_f1(y, oof),
            "seconds": round(time.perf_counter() - started, 1),
        }
        print(name, results[name], flush=True)
    document = {
        "leakage_flagged_by_profiler": flagged,
        "leaky_columns_dropped": leaky,
        "rnf_rows": int(frame["RNF"].sum()),
        "rnf_rows_with_machine_failure": rnf_with_failure,
        "rows": int(len(y)),
        "positive_rate": float(y.mean()),
        "models": results,
        "peers": AI4I_PEERS,
    }
    (RESULTS / "maintenance_ai4i.json").write_text(json.dumps(document, indent=1))


def with_physics_features(frame: pd.DataFrame) -> pd.DataFrame:
    """Three features any maintenance engineer derives from these columns (no label used):
    mechanical power (torque x angular speed), the process-air temperature difference, and
    tool wear x torque (the strain that wears a tool out)."""
    out = frame.copy()
    out["power [W]"] = out["Torque [Nm]"] * out["Rotational speed [rpm]"] * 2 * np.pi / 60
    out["temperature difference [K]"] = out["Process temperature [K]"] - out["Air temperature [K]"]
    out["wear x torque [min Nm]"] = out["Tool wear [min]"] * out["Torque [Nm]"]
    return out


def _best_f1(y, score) -> float:
    from sklearn.metrics import precision_recall_curve

    precision, recall, _ = precision_recall_curve(y, score)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    return float(f1.max())


# -------------------------------------------------------------------------- report
def _merged_seeds() -> list[dict]:
    """One document per seed, merging the parts written by parallel runs."""
    merged: dict[int, dict] = {}
    for path in sorted(RESULTS.glob("maintenance_cmapss_seed*.json")):
        if "_quick" in path.name:
            continue
        part = json.loads(path.read_text())
        document = merged.setdefault(part["seed"], {"models": {}})
        models = {**document["models"], **part.get("models", {})}
        document.update({k: v for k, v in part.items() if k != "models"})
        document["models"] = models
    return [merged[k] for k in sorted(merged)]


def report() -> None:
    seeds = _merged_seeds()
    base = [c[0] for c in CONFIGS] + ["ensemble (equal weights)", "ensemble (validation weights)"]
    names = [name + label for label in ("", NO_CONTEXT) for name in base]
    rows = []
    for name in names:
        runs = [s["models"][name] for s in seeds if name in s.get("models", {})]
        if not runs:
            continue
        rmse = [r["rmse"] for r in runs]
        score = [r["phm08_score"] for r in runs]
        for run in runs:
            if "weights" in run or name.startswith("ensemble"):
                label = NO_CONTEXT if name.endswith(NO_CONTEXT) else ""
                members = [s["models"][m + label].get("fit_seconds") or 0 for s in seeds
                           for m in ENSEMBLE_MEMBERS if m + label in s["models"]]  # fmt: skip
                run.setdefault("fit_seconds", sum(members) / max(len(runs), 1))
        rows.append(
            {
                "model": name,
                "seeds": len(runs),
                "rmse_mean": float(np.mean(rmse)),
                "rmse_std": float(np.std(rmse)),
                "phm08_score_mean": float(np.mean(score)),
                "phm08_score_std": float(np.std(score)),
                "rmse_smoothed_mean": float(np.mean([r["smoothed"]["rmse"] for r in runs])),
                "phm08_score_smoothed_mean": float(
                    np.mean([r["smoothed"]["phm08_score"] for r in runs])
                ),
                "band_coverage_mean": float(np.mean([r["band_coverage"] for r in runs])),
                "fit_seconds_mean": float(np.mean([r.get("fit_seconds", 0) or 0 for r in runs])),
            }
        )
    policies = [
        {**s[key], "seed": s["seed"], "life_context": key == "policy"}
        for key in ("policy", "policy" + NO_CONTEXT)
        for s in seeds
        if key in s
    ]
    ai4i_path = RESULTS / "maintenance_ai4i.json"
    document = {
        "machine": platform.platform(),
        "note": "timings measured on a 2-core machine shared with other jobs; compare "
        "ratios within one run only",
        "cmapss_fd001": {"table": rows, "anchors": ANCHORS, "per_seed": seeds},
        "policy_fd001": policies,
        "ai4i2020": json.loads(ai4i_path.read_text()) if ai4i_path.exists() else None,
    }
    (RESULTS / "maintenance.json").write_text(json.dumps(document, indent=1))
    print(
        f"{'model':32s} {'seeds':>5s} {'RMSE':>14s} {'PHM08 score':>16s} {'band cov':>8s} "
        f"{'smoothed RMSE / score':>22s}"
    )
    for r in rows:
        print(
            f"{r['model']:32s} {r['seeds']:5d} {r['rmse_mean']:7.2f} ± {r['rmse_std']:4.2f} "
            f"{r['phm08_score_mean']:8.0f} ± {r['phm08_score_std']:5.0f} "
            f"{r['band_coverage_mean']:8.2f} {r['rmse_smoothed_mean']:12.2f} / "
            f"{r['phm08_score_smoothed_mean']:5.0f}"
        )
    for name, (rmse, score) in ANCHORS.items():
        print(f"{name:32s} {'':5s} {rmse:7.2f}        {score:8.0f}")
    print(markdown_table(rows))
    print(policy_markdown(policies))
    for policy in policies:
        line = ", ".join(
            f"{k}: {v['cost_rate']:.3f}/cycle ({v['failures']} failures)"
            for k, v in policy["policies"].items()
        )
        print(f"policy (alpha {policy['alpha']}, offset {policy['offset']}): {line}")


def markdown_table(rows: list[dict]) -> str:
    lines = [
        "| model | seeds | RMSE | PHM08 score | 10-90% band coverage | fit s (mean) |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['seeds']} | {r['rmse_mean']:.2f} ± {r['rmse_std']:.2f} | "
            f"{r['phm08_score_mean']:.0f} ± {r['phm08_score_std']:.0f} | "
            f"{r['band_coverage_mean']:.2f} | {r['fit_seconds_mean']:.0f} |"
        )
    for name, (rmse, score) in ANCHORS.items():
        lines.append(f"| anchor: {name} | | {rmse:.2f} | {score} | | |")
    return "\n".join(lines)


def policy_markdown(policies: list[dict]) -> str:
    lines = [
        "| seed | policy (alpha, offset) | predictive: cost/cycle (failures) | best fixed interval "
        "(interval) | run to failure | saving vs fixed | saving vs run to failure |",
        "|---|---|---|---|---|---|---|",
    ]
    for policy in policies:
        seed = policy["seed"]
        rows = policy["policies"]
        ours, fixed, rtf = (
            rows["predictive policy"], rows["best fixed interval"], rows["run to failure"]
        )  # fmt: skip
        seed = f"{seed}" if policy["life_context"] else f"{seed}{NO_CONTEXT}"
        lines.append(
            f"| {seed} | {policy['alpha']}, {policy['offset']:g} | {ours['cost_rate']:.4f} "
            f"({ours['failures']}) | {fixed['cost_rate']:.4f} ({fixed['interval']:g}) | "
            f"{rtf['cost_rate']:.4f} ({rtf['failures']}) | {policy['saving_vs_fixed']:.1%} | "
            f"{policy['saving_vs_run_to_failure']:.1%} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("section", choices=["cmapss", "ai4i", "report"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", nargs="*", help="only these rows of the C-MAPSS table")
    parser.add_argument("--quick", action="store_true", help="1-epoch smoke run (not results)")
    parser.add_argument("--part", default="", help="write to a separate file (parallel runs)")
    parser.add_argument(
        "--no-life-context", action="store_true", help="the ablation without drift/age channels"
    )
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.section == "cmapss":
        cmapss_seed(args.seed, args.models, args.quick, args.part, not args.no_life_context)
    elif args.section == "ai4i":
        ai4i()
    else:
        report()


if __name__ == "__main__":
    main()

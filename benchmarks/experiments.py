"""Experiments that decide (issue 29): A/A, A/B, SRM and CUPED replayed with real models and
real labels, offline and through the real service (not part of the unit tests).

Protocol. Two populations (``benchmarks/experiments_data.py``), each with a champion and a
known-better challenger registered in one workspace:

- credit: Taiwan default (30,000 applicants), a stratified half trains, the other 15,000 are
  the pool. Champion: LightGBM on 5 demographic and limit columns (no payment history);
  challenger: LightGBM on all 23 (tailorkit's defaults both). Both decide at the credit
  solution's cost policy (reject when P(default) > 1/6: a bad loan costs 5, a good one earns
  1); a unit's outcome ``profit`` is +1 (accepted, repaid), -5 (accepted, defaulted) or 0
  (rejected), from its real label. CUPED covariate: the same profit one month earlier (the
  champion's decision, September's status PAY_0 >= 2 as the default).
- recommendation: ml-latest-small (610 users); each user's last rating is held out and the models
  are trained by ``tailorkit run`` on the rest. Champion: popularity; challenger: item-kNN. A
  unit's outcome ``click`` is 1 when the held-out movie is in the top 10 the arm shows. CUPED
  covariate: the user's click rate on their 10 earlier interactions under the champion.

A simulated experiment draws its units from the pool (with replacement, fixed seeds), assigns
each to an arm 50/50 (a uniform draw per unit, as the service's hash), and takes the unit's
outcome under its arm's model. A/A puts the champion on both arms. Every analysis is
``tailorkit.loop.experiment_analysis.analyze`` (SRM, the comparison, the decision rule of
``loop.decision`` with its defaults: at least 1,000 units per arm, alpha 0.05, the sequential
boundary tuned at 2,000 units); CUPED values come from ``evaluate.experiment_stats.cuped``.

- A/A and A/B: 500 experiments per population, analysed after every batch of 500 units up to
  20,000 (continuous peeking); an experiment ends at its first ``ship`` (what the service's
  ``--auto-promote`` acts on; a ``keep`` or ``invalid`` is recorded and ends nothing there).
  Sequential (always-valid confidence sequence), sequential on CUPED values, and
  fixed-horizon peeked at every batch; fixed-horizon analysed once at the planned size (80%
  power for the true difference of the pool, statsmodels ``NormalIndPower``, at least the
  1,000 units per arm of the rule).
- SRM: an assignment bug drops 2% of the challenger's units: detection (chi-square p < 0.001,
  ``srm_p_value``) in 1,000 runs at each size, against the noncentral chi-square's power; A/A
  false alarms over every analysis of the A/A experiments and in 5,000 runs at 20,000 units.
- CUPED: the interval width of the difference with CUPED over without, at the planned size.
- HTTP: 5 A/A and 5 A/B experiments per population through ``tailorkit serve`` (a subprocess),
  on the offline replay's first experiments' units (``benchmarks/experiments_http.py``).

    PYTHONPATH=. python benchmarks/experiments.py [--quick] [--out PATH]

(default ``--out``: ``benchmarks/results/experiments.json``, a Markdown table beside it)

``--quick``: 40 experiments up to 6,000 units, 1 A/A and 1 A/B of 500 units through HTTP (a
smoke run: the models' training is most of its time).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy import optimize, stats
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_confint

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))

import experiments_data  # noqa: E402
import experiments_report  # noqa: E402
from experiments_http import Client, run_http, service_tenant  # noqa: E402
from serving import running_service  # noqa: E402

from tailorkit.evaluate.experiment_stats import SRM_ALPHA, cuped, srm_p_value  # noqa: E402
from tailorkit.loop.decision import Rule  # noqa: E402
from tailorkit.loop.experiment_analysis import MetricSpec, analyze  # noqa: E402
from tailorkit.registry import Registry  # noqa: E402
from tailorkit.serve.events import EventStore  # noqa: E402

ALPHA, POWER = 0.05, 0.80
RULE = Rule()  # the defaults: 1,000 units per arm, no minimum duration
ARMS = [("champion", 0.5), ("challenger", 0.5)]
SRM_DROP = 0.02
SEEDS = {"credit": 1, "movielens": 2}
VARIANTS = {  # name: (method, CUPED)
    "sequential": ("sequential", False),
    "sequential + CUPED": ("sequential", True),
    "fixed, peeking": ("fixed", False),
}


@dataclass(frozen=True)
class Settings:
    experiments: int = 500
    horizon: int = 20_000
    batch: int = 500
    srm_sizes: tuple[int, ...] = (20_000, 50_000, 100_000, 200_000, 250_000, 300_000, 400_000)
    srm_runs: int = 1_000
    srm_aa_runs: int = 5_000
    http_experiments: int = 5  # per kind and population
    http_units: int = 2_500
    http_batch: int = 500


QUICK = Settings(40, 6_000, 500, (20_000, 250_000), 200, 500, 1, 500, 500)


# ------------------------------------------------------------------ one experiment
def draws(population, kind: str, settings: Settings, seed: int) -> dict[str, np.ndarray]:
    """Every experiment's units: pool rows, arm, outcome and covariate, in arrival order."""
    rng = np.random.default_rng(seed + (0 if kind == "aa" else 1000))
    rows = rng.integers(len(population), size=(settings.experiments, settings.horizon))
    challenger = rng.random(rows.shape) >= 0.5  # the service's rule: point < 0.5 -> champion
    other = population.outcomes["champion-b" if kind == "aa" else "challenger"]
    values = np.where(challenger, other[rows], population.outcomes["champion"][rows])
    return {
        "rows": rows,
        "challenger": challenger,
        "values": values,
        "covariate": population.covariate[rows],
    }


def analysis_at(population, units: dict, e: int, n: int, method: str, use_cuped: bool) -> dict:
    """``analyze`` on experiment ``e``'s first ``n`` units (CUPED-adjusted values if asked)."""
    values, challenger = units["values"][e, :n], units["challenger"][e, :n]
    binary = population.binary
    if use_cuped:
        values, _ = cuped(values, units["covariate"][e, :n])
        binary = False
    arms = {"champion": values[~challenger], "challenger": values[challenger]}
    try:
        return analyze(
            arms=ARMS,
            units={arm: len(v) for arm, v in arms.items()},
            values={arm: {population.metric: v} for arm, v in arms.items()},
            binary={population.metric: binary},
            primary=MetricSpec(population.metric),
            rule=RULE,
            method=method,
            alpha=ALPHA,
        )
    except OverflowError as error:  # compare()'s relative-lift interval, a champion mean near 0
        return {"decision": "error", "metrics": [], "srm_p_value": None, "error": str(error)}


def peeking(population, units: dict, e: int, looks: range, method: str, use_cuped: bool) -> dict:
    """Experiment ``e`` analysed after every batch until its first ``ship`` (what the service
    acts on with ``--auto-promote``; nothing else ends it): the units at the first ship, keep
    and SRM alarm, the looks without an estimate, and every look's SRM p-value."""
    path: dict = {"ship": None, "keep": None, "srm": None, "no_estimate": 0, "errors": 0}
    path["looks"] = 0
    path["srm_p_values"] = []
    for n in looks:
        result = analysis_at(population, units, e, n, method, use_cuped)
        path["looks"] += 1
        path["srm_p_values"].append(result["srm_p_value"])
        if result["decision"] == "error":
            path["errors"] += 1
        elif result["srm_p_value"] < SRM_ALPHA:
            path["srm"] = path["srm"] or n
        elif not result["metrics"]:  # compare() refused: the champion's mean is exactly 0
            path["no_estimate"] += 1
        if result["decision"] == "keep":
            path["keep"] = path["keep"] or n
        if result["decision"] == "ship":
            path["ship"] = n
            break
    return path


# ------------------------------------------------------------------ a scenario
def planned_units(population) -> dict:
    """The fixed-horizon plan: units for 80% power at the pool's true difference, at least
    enough that both arms reach the rule's minimum (4 sd of the 50/50 split)."""
    a, b = population.outcomes["champion"], population.outcomes["challenger"]
    sd = math.sqrt((a.var() + b.var()) / 2)
    per_arm = NormalIndPower().solve_power((b.mean() - a.mean()) / sd, alpha=ALPHA, power=POWER)
    floor = RULE.min_units
    while floor / 2 - 2 * math.sqrt(floor) < RULE.min_units:
        floor += 10
    total = max(2 * per_arm, floor)
    return {
        "units": int(math.ceil(total / 100) * 100),
        "units_for_power": float(2 * per_arm),
        "true_diff": float(b.mean() - a.mean()),
        "true_lift": float(b.mean() / a.mean() - 1),
    }


def scenario(population, kind: str, settings: Settings, plan: int, seed: int) -> tuple:
    """A/A or A/B: each variant's path, fixed once at ``plan`` units, CUPED widths."""
    units = draws(population, kind, settings, seed)
    looks = range(settings.batch, settings.horizon + 1, settings.batch)
    paths: dict[str, list[dict]] = {name: [] for name in VARIANTS}
    once: dict[str, list[str]] = {"fixed, once at plan": [], "fixed + CUPED, once at plan": []}
    widths = []
    for e in range(settings.experiments):
        for name, (method, use_cuped) in VARIANTS.items():
            paths[name].append(peeking(population, units, e, looks, method, use_cuped))
        plain = analysis_at(population, units, e, plan, "fixed", False)
        adjusted = analysis_at(population, units, e, plan, "fixed", True)
        once["fixed, once at plan"].append(plain["decision"])
        once["fixed + CUPED, once at plan"].append(adjusted["decision"])
        if plain["metrics"] and adjusted["metrics"]:  # neither refused nor overflowed
            widths.append(width(adjusted) / width(plain))
    srm = [[p for p in path["srm_p_values"] if p is not None] for path in paths["sequential"]]
    return units, summarize(paths, once, plan), srm, widths


def width(analysis: dict) -> float:
    primary = analysis["metrics"][0]
    return primary["diff_ci_high"] - primary["diff_ci_low"]


def rate(count: int, total: int) -> dict:
    low, high = proportion_confint(count, total, alpha=0.05, method="wilson")
    return {"count": count, "of": total, "rate": count / total, "ci": [low, high]}


def summarize(paths: dict, once: dict, plan: int) -> dict:
    out = {}
    for name, runs in paths.items():
        total = len(runs)
        ships = [run["ship"] for run in runs if run["ship"] is not None]
        out[name] = {
            "ship": rate(len(ships), total),
            "keep_before_ship": rate(sum(run["keep"] is not None for run in runs), total),
            "srm_alarm": rate(sum(run["srm"] is not None for run in runs), total),
            "looks_without_estimate": rate(
                sum(run["no_estimate"] for run in runs), sum(run["looks"] for run in runs)
            ),
            "looks_with_overflow": rate(
                sum(run["errors"] for run in runs), sum(run["looks"] for run in runs)
            ),
            "median_units_to_ship": float(np.median(ships)) if ships else None,
            "ship_by_plan": rate(sum(n <= plan for n in ships), total),
        }
    for name, decisions in once.items():
        total = len(decisions)
        out[name] = {d: rate(decisions.count(d), total) for d in ("ship", "keep", "continue")}
        out[name]["invalid"] = rate(decisions.count("invalid"), total)
        out[name]["overflow"] = rate(decisions.count("error"), total)
        out[name]["units"] = plan
    return out


# ------------------------------------------------------------------ SRM
def srm_detection(settings: Settings, srm_from_aa: list[list[float]]) -> dict:
    """Detection of a 2% drop of the challenger's units by size, and the A/A false alarms."""
    rng = np.random.default_rng(29)
    threshold = stats.chi2.isf(SRM_ALPHA, 1)

    def analytic(n: float) -> float:  # the chi-square test's power (noncentral chi-square)
        kept = 0.5 * (1 - SRM_DROP)
        share = kept / (0.5 + kept)
        observed = n * (0.5 + kept)
        return float(stats.ncx2.sf(threshold, 1, observed * (share - 0.5) ** 2 / 0.25))

    sizes = []
    for n in settings.srm_sizes:
        champion = rng.binomial(n, 0.5, settings.srm_runs)
        challenger = rng.binomial(n - champion, 1 - SRM_DROP)
        found = sum(
            srm_p_value([c, t], [0.5, 0.5]) < SRM_ALPHA
            for c, t in zip(champion, challenger, strict=True)
        )
        sizes.append({"units": n, **rate(int(found), settings.srm_runs), "analytic": analytic(n)})
    needed = optimize.brentq(lambda n: analytic(n) - 0.95, 1_000, 10_000_000)
    champion = rng.binomial(20_000, 0.5, settings.srm_aa_runs)
    aa_alarms = sum(srm_p_value([c, 20_000 - c], [0.5, 0.5]) < SRM_ALPHA for c in champion)
    every = [p for run in srm_from_aa for p in run]
    return {
        "drop": SRM_DROP,
        "detection": sizes,
        "units_for_95pct_analytic": float(needed),
        "aa_at_20000_units": rate(int(aa_alarms), settings.srm_aa_runs),
        "aa_per_analysis": rate(sum(p < SRM_ALPHA for p in every), len(every)),
        "aa_per_experiment_any_look": rate(
            sum(any(p < SRM_ALPHA for p in run) for run in srm_from_aa), len(srm_from_aa)
        ),
    }


def covariate_correlation(population, units: dict) -> float:
    values, covariate = units["values"].ravel(), units["covariate"].ravel()
    return float(np.corrcoef(values, covariate)[0, 1])


# ------------------------------------------------------------------ the run
def replay(population, settings: Settings, seed: int) -> tuple[dict, dict, list]:
    """Both scenarios of one population offline; the A/B draws feed the HTTP replay."""
    plan = planned_units(population)
    entry = {"about": population.about, "plan": plan, "covariate": population.covariate_note}
    aa_srm = []
    draws_by_kind = {}
    for kind in ("aa", "ab"):
        started = time.perf_counter()
        units, result, srm, widths = scenario(population, kind, settings, plan["units"], seed)
        draws_by_kind[kind] = units["rows"]
        entry[kind] = result
        entry[f"{kind}_cuped_width_ratio"] = {
            "mean": float(np.mean(widths)),
            "median": float(np.median(widths)),
            "variance_reduction": float(1 - np.mean(widths) ** 2),
            "correlation": covariate_correlation(population, units),
        }
        entry[f"{kind}_seconds"] = time.perf_counter() - started
        if kind == "aa":
            aa_srm = srm
        print(f"  {population.project} {kind}: {entry[f'{kind}_seconds']:.0f} s", flush=True)
    return entry, draws_by_kind, aa_srm


def through_service(workspace: Path, populations, draws_by_project, settings: Settings) -> dict:
    key = service_tenant(workspace, [p.project for p in populations])
    store = EventStore(Registry(workspace))
    out = {}
    with running_service(workspace) as port:
        client = Client(port, key)
        for population in populations:
            for kind in ("aa", "ab"):
                rows = draws_by_project[population.project][kind]
                rows = rows[: settings.http_experiments, : settings.http_units]
                started = time.perf_counter()
                out[f"{population.project}_{kind}"] = result = run_http(
                    population, client, store, kind=kind, pool_rows=rows, batch=settings.http_batch
                )
                result["wall_seconds"] = time.perf_counter() - started
                print(f"  http {population.project} {kind}: {result['wall_seconds']:.0f} s")
    return out


def run(settings: Settings) -> dict:
    started = time.perf_counter()
    results: dict = {"settings": asdict(settings), "alpha": ALPHA, "rule": asdict(RULE)}
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        workspace = folder / ".tailorkit"
        print("models", flush=True)
        populations = [
            experiments_data.credit(workspace, folder / "credit"),
            experiments_data.movielens(workspace, folder / "movielens"),
        ]
        results["models_seconds"] = time.perf_counter() - started
        print(f"  {results['models_seconds']:.0f} s", flush=True)
        draws_by_project, aa_srm = {}, []
        for population in populations:
            entry, draws_by_project[population.project], srm = replay(
                population, settings, SEEDS[population.project]
            )
            results[population.project] = {"name": population.name, **entry}
            aa_srm += srm
        print("srm", flush=True)
        results["srm"] = srm_detection(settings, aa_srm)
        print(f"  {time.perf_counter() - started:.0f} s so far", flush=True)
        print("http", flush=True)
        results["http"] = through_service(workspace, populations, draws_by_project, settings)
    results["seconds"] = time.perf_counter() - started
    results["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version()}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small counts (under 2 minutes)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    settings = QUICK if args.quick else Settings()
    name = "experiments.quick.json" if args.quick else "experiments.json"
    out = args.out or ROOT / "benchmarks" / "results" / name
    results = run(settings)
    out.write_text(json.dumps(results, indent=1) + "\n")
    text = experiments_report.markdown(results)
    out.with_suffix(".md").write_text(text)
    print(text)
    print(f"wrote {out} ({results['seconds']:.0f} s)")


if __name__ == "__main__":
    main()

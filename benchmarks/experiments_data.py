"""The two replays' populations for ``benchmarks/experiments.py``: real models, real labels.

Each population is a pool of held-out units (Taiwan applicants, MovieLens users) with, per
unit, the business outcome it gives under the champion's and under the challenger's model, a
pre-period covariate for CUPED, and what the HTTP replay needs to send the unit to the service
and read its outcome from the answer. Both models are registered in the benchmark's workspace
(aliases ``champion``, ``champion-b`` on the same version for A/A, ``challenger``), and the
offline outcomes come from those registered versions through the solutions' own scoring code
(``Scorer``, ``Recommendations``), the code the service runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from tailorkit.models import load_model, make_model
from tailorkit.pipeline import Project
from tailorkit.registry import Registry
from tailorkit.solutions.credit_risk.predict import DECISION_FILE, Scorer
from tailorkit.solutions.recommendation.recommend import Recommendations
from tests.serving_helpers import register_folder

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
TAIWAN_TARGET = "default.payment.next.month"
# the credit solution's default cost policy (a bad applicant accepted costs 5, a good one
# rejected 1): reject when P(default) > 1/6, and a unit's profit is +1 (accepted, repaid),
# -5 (accepted, defaulted) or 0 (rejected)
COST_BAD_ACCEPTED, GAIN_GOOD_ACCEPTED = 5.0, 1.0
THRESHOLD = GAIN_GOOD_ACCEPTED / (GAIN_GOOD_ACCEPTED + COST_BAD_ACCEPTED)
CHAMPION_COLUMNS = ["LIMIT_BAL", "AGE", "SEX", "EDUCATION", "MARRIAGE"]  # no payment history
TOP_K = 10
EARLIER_POSITIONS = 10  # a user's pre-period: their last 10 training interactions
ALIASES = ("champion", "champion-b", "challenger")


@dataclass
class Population:
    """Held-out units; ``outcomes[alias]``: each unit's outcome under that alias's model."""

    name: str
    project: str
    metric: str
    binary: bool
    outcomes: dict[str, np.ndarray]
    covariate: np.ndarray
    covariate_note: str
    endpoint: str  # predict or recommend
    body: Callable[[int], dict]  # the request for unit ``i`` of the pool
    outcome_of: Callable[[int, dict], float]  # unit ``i``'s outcome from the service's answer
    about: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.covariate)


def profit(accepted: np.ndarray, defaulted: np.ndarray) -> np.ndarray:
    return np.where(accepted, np.where(defaulted, -COST_BAD_ACCEPTED, GAIN_GOOD_ACCEPTED), 0.0)


def credit(workspace: Path, folder: Path, seed: int = 0) -> Population:
    """Taiwan default: half the applicants train, the other half is the pool. Champion:
    LightGBM on the demographic and limit columns only (no payment history); challenger:
    LightGBM on all 23 columns (tailorkit's defaults both)."""
    frame = pd.read_csv(SHARED / "taiwan-default" / "UCI_Credit_Card.csv").drop(columns=["ID"])
    y = frame.pop(TAIWAN_TARGET).to_numpy()
    X_train, X_pool, y_train, y_pool = train_test_split(
        frame, y, test_size=0.5, stratify=y, random_state=seed
    )
    X_pool = X_pool.reset_index(drop=True)
    models = {
        "champion": ("lightgbm", CHAMPION_COLUMNS, {"random_state": seed}),
        "challenger": ("lightgbm", list(frame.columns), {"random_state": seed}),
    }
    decisions, about = {}, {"pool_units": len(y_pool), "default_rate": float(y_pool.mean())}
    for alias, (family, columns, params) in models.items():
        saved = folder / alias
        make_model(family, **params).fit(X_train[columns], y_train).save(saved)
        decision = {"project": "credit", "solution": "credit_risk", "threshold": THRESHOLD}
        (saved / DECISION_FILE).write_text(json.dumps({**decision, "columns": columns}))
        version = register_folder(workspace, "credit", saved, alias)
        scored = Scorer(load_model(saved), {**decision, "columns": columns}).score(
            X_pool, reasons=0
        )
        decisions[alias] = scored["decision"].to_numpy() == "accept"
        about[alias] = {
            "version": version,
            "model": f"{family} on {len(columns)} columns",
            "auc": float(roc_auc_score(y_pool, scored["probability"])),
            "accept_rate": float(decisions[alias].mean()),
        }
    Registry(workspace).set_alias("credit", "champion-b", about["champion"]["version"])
    outcomes = {alias: profit(accepted, y_pool == 1) for alias, accepted in decisions.items()}
    outcomes["champion-b"] = outcomes["champion"]
    # the pre-period: September's status (PAY_0 >= 2: two months behind counts as a default)
    # under the champion's decision, the policy every unit had before the experiment
    covariate = profit(decisions["champion"], X_pool["PAY_0"].to_numpy() >= 2)
    rows = json.loads(X_pool.to_json(orient="records"))

    def outcome_of(i: int, answer: dict) -> float:
        accepted = answer["predictions"][0]["decision"] == "accept"
        return float(profit(np.array(accepted), np.array(y_pool[i] == 1)))

    return Population(
        name="credit (Taiwan default)",
        project="credit",
        metric="profit",
        binary=False,
        outcomes=outcomes,
        covariate=covariate,
        covariate_note="the champion's decision scored on September's status (PAY_0 >= 2 "
        "counts as a default): each applicant's profit one month before the experiment",
        endpoint="predict",
        body=lambda i: {"rows": [rows[i]]},
        outcome_of=outcome_of,
        about={**about, **{f"mean_{a}": float(o.mean()) for a, o in outcomes.items()}},
    )


RECOMMENDER_SPEC = {
    "name": "movielens",
    "solution": "recommendation",
    "data": {"interactions": "train.csv", "user": "userId", "item": "movieId", "time": "time"},
    "evaluation": {"protocol": "leave_one_out", "bootstrap": 0, "cold_items_fraction": 0.0},
}


def movielens(workspace: Path, folder: Path) -> Population:
    """ml-latest-small: each user's last rating (by time, ties in file order) is held out and
    the models are trained by ``tailorkit run`` on the rest; a click is the held-out movie in
    the top 10 the arm's model shows. Champion: popularity; challenger: item-kNN."""
    ratings = pd.read_csv(SHARED / "ml-latest-small" / "ratings.csv")
    ratings = ratings.rename(columns={"timestamp": "time"}).sort_values(
        ["userId", "time"], kind="stable"
    )
    last = ratings.groupby("userId").tail(1)
    folder.mkdir(parents=True, exist_ok=True)
    ratings.drop(index=last.index).to_csv(folder / "train.csv", index=False)
    registry = Registry(workspace)
    versions = {}
    for alias, family in (("champion", "popularity"), ("challenger", "item_knn")):
        spec = {**RECOMMENDER_SPEC, "models": [family]}
        (folder / "tailorkit.yaml").write_text(yaml.safe_dump(spec))
        result = Project.from_yaml(folder / "tailorkit.yaml", workspace=workspace).run()
        versions[alias] = int(result.model_ref.split(":")[1])
    for alias in ALIASES:
        registry.set_alias("movielens", alias, versions[alias.removesuffix("-b")])
    users = [str(u) for u in last["userId"]]
    held_out = [str(i) for i in last["movieId"]]
    clicks, about = {}, {"pool_units": len(users)}
    engines = {}
    for alias in ("champion", "challenger"):
        engines[alias] = engine = Recommendations(registry.resolve(f"movielens@{alias}"))
        shown, _ = engine.for_users(users, TOP_K, None)
        clicks[alias] = np.array(
            [
                target in {r["item_id"] for r in s["items"]}
                for s, target in zip(shown, held_out, strict=True)
            ],
            dtype=float,
        )
        about[alias] = {
            "version": versions[alias],
            "model": engine.model.family,
            "hr@10": float(clicks[alias].mean()),
        }
    clicks["champion-b"] = clicks["champion"]

    def outcome_of(i: int, answer: dict) -> float:
        return float(held_out[i] in {r["item_id"] for r in answer["items"]})

    return Population(
        name="recommendation (ml-latest-small)",
        project="movielens",
        metric="click",
        binary=True,
        outcomes=clicks,
        covariate=earlier_click_rate(engines["champion"], users),
        covariate_note=f"each user's click rate on their {EARLIER_POSITIONS} interactions "
        "before the held-out one, had the champion shown its top 10 then (the pre-period)",
        endpoint="recommend",
        body=lambda i: {"user": users[i], "k": TOP_K},
        outcome_of=outcome_of,
        about={**about, **{f"mean_{a}": float(o.mean()) for a, o in clicks.items()}},
    )


def earlier_click_rate(engine: Recommendations, users: list[str]) -> np.ndarray:
    """Per user, the share of their last ``EARLIER_POSITIONS`` training interactions that the
    model's top 10 for the history before each would have contained."""
    rates = []
    for user in users:
        history = engine.histories[engine.user_index[user]]
        starts = range(max(1, len(history) - EARLIER_POSITIONS), len(history))
        prefixes = [history[:s] for s in starts]
        items, _ = engine.model.recommend(prefixes, TOP_K, exclude_seen=True)
        hits = [history[s] in set(row) for s, row in zip(starts, items, strict=True)]
        rates.append(float(np.mean(hits)) if hits else 0.0)
    return np.array(rates)

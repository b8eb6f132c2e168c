"""Simulator of credit applicants with a known default mechanism (tests, scaling benchmarks).

Each applicant has a latent creditworthiness ``z ~ N(0, 1)``. Observed features are noisy,
partly non-linear functions of it: income (log-normal, higher with z), debt-to-income,
age, employment years, number of late payments (Poisson, more when z is low), loan amount
and duration, a housing category and a purpose category (with a rare level), a region with
many levels, an application date, and a protected ``sex`` column that is independent of z.
Default happens with probability ``sigmoid(a - 1.6 z + 0.4 * duration_effect)``, tuned so
roughly ``default_rate`` of applicants default. About 3% of ``income`` and
``employment_years`` values are missing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def simulate_applicants(
    n_rows: int = 2000, *, default_rate: float = 0.25, random_state: int = 0
) -> pd.DataFrame:
    """A DataFrame of ``n_rows`` applicants with an ``application_id`` and a 0/1 ``default``."""
    rng = np.random.default_rng(random_state)
    z = rng.standard_normal(n_rows)
    income = np.exp(10.3 + 0.35 * z + 0.4 * rng.standard_normal(n_rows))
    amount = np.round(np.exp(8.5 + 0.6 * rng.standard_normal(n_rows)), -1)
    duration = rng.choice([6, 12, 18, 24, 36, 48, 60], size=n_rows)
    late = rng.poisson(np.exp(-0.3 - 0.9 * z))
    age = np.clip(np.round(38 + 6 * z + 11 * rng.standard_normal(n_rows)), 18, 80)
    employment = np.clip(np.round(3 + 2.5 * z + 3 * rng.standard_normal(n_rows), 1), 0, 40)
    housing = np.where(
        z + rng.standard_normal(n_rows) > 0.5,
        "own",
        np.where(rng.random(n_rows) < 0.7, "rent", "free"),
    )
    purpose = rng.choice(
        ["car", "furniture", "education", "business", "repairs", "other"],
        p=[0.3, 0.25, 0.1, 0.15, 0.17, 0.03],
        size=n_rows,
    )
    region = np.array([f"R{i:02d}" for i in rng.integers(0, 40, size=n_rows)])
    sex = rng.choice(["female", "male"], size=n_rows, p=[0.4, 0.6])
    applied = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 700, n_rows), "D")
    debt_to_income = amount / income * (1 + 0.3 * rng.standard_normal(n_rows) ** 2)
    logit = (
        -1.6 * z
        + 0.35 * np.log1p(debt_to_income * 10)
        + 0.012 * (duration - 24)
        + 0.5 * (purpose == "business")
        + 0.4 * np.isin(region, ["R03", "R17", "R29"])
    )
    intercept = -np.quantile(logit, 1 - default_rate) if 0 < default_rate < 1 else 0.0
    default = (rng.random(n_rows) < 1 / (1 + np.exp(-(logit + intercept) * 1.3))).astype(int)
    frame = pd.DataFrame(
        {
            "application_id": np.arange(1, n_rows + 1),
            "applied_on": applied.strftime("%Y-%m-%d"),
            "income": np.round(income, 2),
            "loan_amount": amount,
            "duration_months": duration,
            "debt_to_income": np.round(debt_to_income, 4),
            "late_payments": late,
            "age": age.astype(int),
            "employment_years": employment,
            "housing": housing,
            "purpose": purpose,
            "region": region,
            "sex": sex,
            "default": default,
        }
    )
    for column in ("income", "employment_years"):
        frame.loc[rng.random(n_rows) < 0.03, column] = np.nan
    return frame

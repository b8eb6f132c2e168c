"""The recommendation solution object: the contract's methods over this package's modules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any

from tailorkit.data.io import read_table
from tailorkit.registry import ModelVersion
from tailorkit.report.recommendation_report import render_recommendation_report
from tailorkit.report.run_report import to_jsonable
from tailorkit.solutions.base import Evaluation, ProfileTable, RunContext, Say, Solution
from tailorkit.solutions.recommendation import recommend, templates, train
from tailorkit.solutions.recommendation.data import load_data, load_users
from tailorkit.solutions.recommendation.serving import RecommendationAdapter
from tailorkit.solutions.recommendation.spec import DEFAULTS, METRICS, RecSpec


class Recommendation(Solution):
    name = "recommendation"
    spec_class = RecSpec
    defaults = DEFAULTS
    metrics = METRICS
    headline = "ndcg@10"
    board_columns = {
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
    summary = "interactions + item text + users -> top-K items, cold-start items and users"

    def init_template(self, name: str, options: dict[str, Any]) -> str:
        return templates.init_template(name, options)

    def demo_project(self, folder: Path) -> tuple[Path, str]:
        return templates.demo_project(folder)

    def describe_data(self, spec: RecSpec, base_dir: Path) -> tuple[list[str], str]:
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

    def profile_tables(self, spec: RecSpec, base_dir: Path) -> list[ProfileTable]:
        data = spec.data
        tables = [(data.interactions, data.user), (data.items, data.item_key or data.item)]
        tables.append((data.users, data.user))
        return [
            ProfileTable(path, read_table(path, base_dir=base_dir, encoding=data.encoding), key=key)
            for path, key in tables
            if path
        ]

    def fit_candidates(self, context: RunContext) -> Evaluation:
        return train.fit_candidates(context)

    def write_report(self, document: dict[str, Any], html_path: Path, json_path: Path) -> None:
        plain = to_jsonable(document)
        json_path.write_text(json.dumps(plain, indent=1, allow_nan=False), encoding="utf-8")
        html_path.write_text(render_recommendation_report(plain), encoding="utf-8")

    def predict_file(
        self, version: ModelVersion, source: str, handle: IO[str], *, chunk_rows: int, warn: Say
    ) -> int:
        """Batch recommendations for the users listed in ``source`` (one CSV row per item)."""
        return recommend.predict_file(version, source, handle, chunk_rows, warn)

    def serving_adapter(self, version: ModelVersion) -> RecommendationAdapter:
        return RecommendationAdapter(version, self.name)


SOLUTION = Recommendation()

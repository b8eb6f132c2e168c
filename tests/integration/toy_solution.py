"""A fifth solution written the way a user of the contract would: one module, one registry
line (the tests add ``"toy": "tests.integration.toy_solution"`` to ``SOLUTIONS``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any, Literal

import pandas as pd
from sklearn.metrics import roc_auc_score

from tailorkit.data.dataset import load_training_data
from tailorkit.data.io import read_table
from tailorkit.errors import DataError
from tailorkit.models import load_model, make_model
from tailorkit.solutions.base import Evaluation, ProfileTable, RunContext, Solution
from tailorkit.solutions.serving import ServingAdapter
from tailorkit.spec import Spec


class ToySpec(Spec):
    solution: Literal["toy"]  # type: ignore[assignment]


class ToyAdapter(ServingAdapter):
    kinds = frozenset({"predict"})

    def __init__(self, version, solution: str) -> None:
        super().__init__(version, solution)
        self.model = load_model(version.path)
        self.columns = json.loads((version.path / "toy.json").read_text())["columns"]

    def check_rows(self, rows: list[dict[str, Any]]) -> list[str]:
        for index, row in enumerate(rows):
            missing = [c for c in self.columns if c not in row]
            if missing:
                raise DataError(f"rows[{index}] lacks {missing}")
        return []

    def predict_rows(self, rows: list[dict[str, Any]], reasons: int) -> list[dict[str, Any]]:
        frame = pd.DataFrame.from_records(rows, columns=self.columns)
        return [{"probability": float(p)} for p in self.model.predict_proba(frame)[:, 1]]


class Toy(Solution):
    name = "toy"
    spec_class = ToySpec
    defaults = {"models": ["logistic"]}
    metrics = ("auc",)
    headline = "auc"
    board_columns = {"model": "model", "auc": "AUC"}

    def init_template(self, name: str, options: dict[str, Any]) -> str:
        return (
            f"name: {name}\nsolution: toy\ndata: {{train: {options['data']}}}\n"
            f"target: {options['target']}\nrequirements: [auc >= 0.5]\n"
        )

    def demo_project(self, folder: Path) -> tuple[Path, str]:
        raise NotImplementedError

    def describe_data(self, spec, base_dir: Path) -> tuple[list[str], str]:
        data = load_training_data(spec, base_dir)
        return data.warnings, f"{len(data.y)} rows"

    def profile_tables(self, spec, base_dir: Path) -> list[ProfileTable]:
        frame = read_table(spec.data.train, base_dir=base_dir)
        return [ProfileTable(spec.data.train, frame, target=spec.target)]

    def fit_candidates(self, context: RunContext) -> Evaluation:
        data = load_training_data(context.spec, context.base_dir)
        model = make_model("logistic").fit(data.X, data.y, schema=data.schema)
        auc = float(roc_auc_score(data.y, model.predict_proba(data.X)[:, 1]))
        model.save(context.artifact_dir)
        (context.artifact_dir / "toy.json").write_text(json.dumps({"columns": list(data.X)}))
        return Evaluation(
            leaderboard=[{"model": "logistic", "auc": auc}],
            best="logistic",
            family="logistic",
            document={"protocol": {"kind": "in-sample", "folds": 1, "seed": 0}},
        )

    def write_report(self, document: dict[str, Any], html_path: Path, json_path: Path) -> None:
        json_path.write_text(json.dumps(document, default=str))
        html_path.write_text(f"<html><body>{document['best']}</body></html>")

    def predict_file(self, version, source: str, handle: IO[str], *, chunk_rows: int, warn):
        model = load_model(version.path)
        columns = json.loads((version.path / "toy.json").read_text())["columns"]
        frame = read_table(source, base_dir=Path.cwd())
        pd.DataFrame({"probability": model.predict_proba(frame[columns])[:, 1]}).to_csv(
            handle, index=False
        )
        return len(frame)

    def serving_adapter(self, version) -> ToyAdapter:
        return ToyAdapter(version, self.name)


SOLUTION = Toy()

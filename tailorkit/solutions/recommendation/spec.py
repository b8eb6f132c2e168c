"""The recommendation spec: interactions, item catalogue, users, evaluation protocol, rules."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator

from tailorkit.spec import ModelEntry, SpecBase, _Strict

KS = (5, 10, 20)
METRICS: tuple[str, ...] = (
    *(f"{m}@{k}" for m in ("hr", "ndcg", "recall") for k in KS),
    "mrr",
    "coverage@10",
    "popularity_bias@10",
    "cold_hr@10",
    "fit_seconds",
)
DEFAULTS: dict[str, Any] = {"models": ["popularity", "item_knn", "als", "sasrec"]}


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

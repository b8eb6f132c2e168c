"""Serving a recommendation version: top-K items for a user (a new user by their segment)."""

from __future__ import annotations

import logging
from typing import Any

from tailorkit.models.torch_utils import torch_threads
from tailorkit.registry import ModelVersion
from tailorkit.solutions.recommendation.recommend import Recommendations
from tailorkit.solutions.serving import ServingAdapter

log = logging.getLogger("tailorkit.serve")


class RecommendationAdapter(ServingAdapter):
    """Top-K items for a user: seen and rule-blocked items excluded; users without history
    get the (segment) popularity fallback, said in ``source`` and ``note``; a request's
    ``context`` gives a new user's segment attributes (``{"region": "north"}``)."""

    kinds = frozenset({"recommend"})

    def __init__(self, version: ModelVersion, solution: str) -> None:
        super().__init__(version, solution)
        self.recommender = Recommendations(version)
        try:  # one native call per batch, off the GIL (see SASRec.compile)
            self.recommender.model.compile()
        except Exception as error:  # noqa: BLE001 - eager scoring still answers
            name = f"{version.project}:{version.version}"
            log.warning("%s: scoring stays eager (compile failed: %s)", name, error)

    def recommend(self, request: dict[str, Any]) -> dict[str, Any]:
        return self.answer_batch([request], 0)[0]

    def is_cheap(self, rows: list[dict[str, Any]]) -> bool:
        """One user: a single forward pass and top-K (about a millisecond), answered on the
        event loop; batches of several users go to the scoring thread."""
        return len(rows) == 1

    def answer_batch(self, items: list[dict[str, Any]], reasons: int) -> list[dict[str, Any]]:
        """Several users' requests in one model call: the largest k, each cut to its own."""
        ks = [int(item.get("k") or self.recommender.state["k"]) for item in items]
        users = [str(item["user"]) for item in items]
        # a new user's segment values (e.g. {"region": "north"}); the note names any unused
        given = {u: i["context"] for u, i in zip(users, items, strict=True) if i.get("context")}
        with torch_threads(None):  # half the cores: the event loop and other requests need the rest
            results, _ = self.recommender.for_users(users, max(ks), None, given)
        return [{"k": k, **r, "items": r["items"][:k]} for k, r in zip(ks, results, strict=True)]

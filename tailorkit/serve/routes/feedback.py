"""Events: the project's request log, and outcomes (feedback) for answered requests."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse

from tailorkit.serve.dependencies import CallerDep
from tailorkit.serve.errors import ServiceError
from tailorkit.serve.responses import answer
from tailorkit.serve.schemas import (
    AUTHENTICATED,
    WITH_BODY,
    WITH_PROJECT,
    FeedbackRequest,
    error_responses,
)

router = APIRouter(tags=["events"], responses=error_responses(*AUTHENTICATED, *WITH_PROJECT))

IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY = re.compile(r"[\x20-\x7e]{1,200}")  # printable ASCII
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=IDEMPOTENCY_HEADER,
        description="Optional, up to 200 printable ASCII characters: a retry with the same "
        "key and body answers the first event instead of storing a second one.",
    ),
]


@router.get("/v1/projects/{project}/requests")
async def recent_requests(
    project: str, request: Request, caller: CallerDep, limit: int = 50
) -> JSONResponse:
    """The project's latest answered requests (no inputs are stored)."""
    service = caller.service
    await service.check_project(caller.tenant, project, request)  # after ``limit`` is checked
    await service.run_io(service.writer.flush)
    rows = await service.run_io(
        service.store.recent_requests, caller.tenant.id, project, max(1, min(limit, 1000))
    )
    return answer(request, {"requests": rows})


@router.post("/v1/feedback", responses=error_responses(*WITH_BODY, 409))
async def feedback(
    body: FeedbackRequest,
    request: Request,
    caller: CallerDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """An outcome for an answered request; acknowledged only once durably stored. With an
    ``Idempotency-Key`` a retry answers the first event (409 when the body differs)."""
    service, tenant = caller.service, caller.tenant
    request.state.labels["endpoint"] = "feedback"
    if idempotency_key is not None and not IDEMPOTENCY_KEY.fullmatch(idempotency_key):
        raise ServiceError(
            422, f"header {IDEMPOTENCY_HEADER}: use 1 to 200 printable ASCII characters"
        )
    owner = await service.request_owner(body.request_id)
    if owner is None and service.writer is not None:
        await service.run_io(service.writer.flush)
        owner = await service.request_owner(body.request_id)
    if owner is None or owner[0] != tenant.id:
        raise ServiceError(404, f"no request '{body.request_id}' for this API key")
    _tenant_id, project, version = owner
    request.state.labels["project"] = project
    request.state.labels["model_version"] = str(version)
    request.state.model_version = version
    record = {
        "feedback_id": uuid.uuid4().hex,
        "request_id": body.request_id,
        "tenant_id": tenant.id,
        "project": project,
        "outcome": body.outcome,
        "value": body.value,
        "label": None if body.label is None else str(body.label),
        "row": body.row,
        "observed_at": body.observed_at,
        "idempotency_key": idempotency_key,
        "body_digest": None if idempotency_key is None else body_digest(body),
    }
    stored = await service.run_io(service.store.add_feedback, record)
    if stored.replayed and stored.body_digest != record["body_digest"]:
        raise ServiceError(
            409,
            f"header {IDEMPOTENCY_HEADER}: this key was already used with a different body; "
            "send a new key for a new event",
        )
    response = answer(
        request,
        {
            "request_id": request.state.request_id,
            "model_version": version,
            "feedback_id": stored.feedback_id,
            "for_request": body.request_id,
            "stored": True,
        },
    )
    if stored.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


def body_digest(body: FeedbackRequest) -> str:
    """SHA-256 of the canonical body: its validated fields as sorted, compact JSON (so key
    order, spacing and ``1`` against ``1.0`` do not make a retry look different)."""
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()

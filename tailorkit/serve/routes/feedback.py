"""Events: the project's request log, and outcomes (feedback) for answered requests."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
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


@router.post("/v1/feedback", responses=error_responses(*WITH_BODY))
async def feedback(body: FeedbackRequest, request: Request, caller: CallerDep) -> JSONResponse:
    """An outcome for an answered request; acknowledged only once durably stored."""
    service, tenant = caller.service, caller.tenant
    request.state.labels["endpoint"] = "feedback"
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
    feedback_id = uuid.uuid4().hex
    record = {
        "feedback_id": feedback_id,
        "request_id": body.request_id,
        "tenant_id": tenant.id,
        "project": project,
        "outcome": body.outcome,
        "value": body.value,
        "label": None if body.label is None else str(body.label),
        "row": body.row,
        "observed_at": body.observed_at,
    }
    await service.run_io(service.store.add_feedback, record)
    return answer(
        request,
        {
            "request_id": request.state.request_id,
            "model_version": version,
            "feedback_id": feedback_id,
            "for_request": body.request_id,
            "stored": True,
        },
    )

"""radhub's own JSON API for the archive: totals, ingest checks (A8), conflicts."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request

from radhub.ingest import CHECK_CODES

router = APIRouter(tags=["archive"])


@router.get("/archive/totals")
def totals(request: Request) -> dict[str, int]:
    """Patients, studies, series, instances and bytes stored."""
    return request.app.state.archive.catalog.totals()


@router.get("/checks")
def checks(
    request: Request,
    code: str | None = Query(None, description="only instances flagged with this code"),
    study: str | None = Query(None, description="StudyInstanceUID"),
    limit: int = Query(1000, ge=1, le=100000),
    offset: int = Query(0, ge=0),
) -> list[dict[str, Any]]:
    """Instances flagged by the ingest checks (A8), with their codes."""
    if code is not None and code not in CHECK_CODES and not code.startswith(("nonconformant_uid", "nonconformant_ds")):
        raise HTTPException(400, f"unknown check code {code!r}; known codes: {', '.join(CHECK_CODES)}")
    return request.app.state.archive.catalog.checks(code=code, study_uid=study, limit=limit, offset=offset)


@router.get("/checks/summary")
def checks_summary(request: Request) -> dict[str, int]:
    """Number of instances per check code."""
    return request.app.state.archive.catalog.check_counts()


@router.get("/conflicts")
def conflicts(request: Request, sop: str | None = None) -> list[dict[str, Any]]:
    """Receipts of known SOP Instance UIDs with different bytes (conflict policy log)."""
    return request.app.state.archive.catalog.conflicts(sop)

"""``/api/v1/audit``: the audit trail for admins (site admins see their own organisation's records).

The middleware requires ``audit.read``; reading the trail is itself audited.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from radhub.identity import Permission, current_principal

__all__ = ["router"]

router = APIRouter()


@router.get("/audit", tags=["audit"], summary="Search the audit trail, newest first")
async def list_audit(
    request: Request,
    user: str | None = None,
    org: str | None = None,
    action: Annotated[str | None, Query(description="an action, or a prefix ending in '.' or '*'")] = None,
    outcome: str | None = None,
    study: Annotated[str | None, Query(description="a Study Instance UID")] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    archive = request.app.state.archive
    principal = current_principal()
    if not principal.can(Permission.PLATFORM_ADMIN) and principal.kind != "system":
        org = principal.org_code  # a site's admin reads only the site's records
    await run_in_threadpool(archive.audit.flush)
    records = await run_in_threadpool(
        archive.audit.query,
        user=user, org=org, action=action, outcome=outcome, study_uid=study,
        since=since, until=until, limit=limit, offset=offset,
    )
    archive.record("audit.read", object_type="audit", detail={"count": len(records)})
    return {"records": records, "limit": limit, "offset": offset}


@router.get("/audit/verify", tags=["audit"], summary="Recompute the audit trail's hash chain (platform admins)")
async def verify_audit(request: Request) -> dict[str, Any]:
    from fastapi import HTTPException

    archive = request.app.state.archive
    principal = current_principal()
    if not principal.can(Permission.PLATFORM_ADMIN) and principal.kind != "system":
        raise HTTPException(403, "verifying the whole trail needs platform.admin")
    await run_in_threadpool(archive.audit.flush)
    result = await run_in_threadpool(archive.audit.verify)
    archive.record("audit.verify", outcome="success" if result.ok else "failure", object_type="audit", detail={"count": result.checked})
    return {"ok": result.ok, "checked": result.checked, "head_pk": result.head_pk, "head_hash": result.head_hash, "problems": list(result.problems)}

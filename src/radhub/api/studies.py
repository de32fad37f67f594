"""Per-study actions of people reading the archive: image-quality grades (A8).

Thin: the catalog checks the grade and the tenant (a study the caller cannot
see is not found); the permission (``study.grade``, reviewers and experts) is
the auth middleware's; every grade is audited.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from radhub.catalog import QUALITY_GRADES, NotFoundError
from radhub.identity import current_principal

router = APIRouter(prefix="/studies", tags=["studies"])


class GradeIn(BaseModel):
    grade: int = Field(strict=True, description="1 not diagnostic, 2 diagnostic with minor artefacts, 3 good")
    note: str = Field("", max_length=500)


@router.get("/{study_uid}/quality")
def quality(request: Request, study_uid: str) -> dict[str, Any]:
    """The study's quality grades, newest first, and the scale."""
    catalog = request.app.state.archive.catalog
    if not catalog.study_visible(study_uid):
        raise HTTPException(404, "no such study")
    grades = catalog.quality_grades([study_uid], history=True).get(study_uid, [])
    return {"study_uid": study_uid, "grade": grades[0]["grade"] if grades else None, "history": grades,
            "scale": {str(k): v for k, v in QUALITY_GRADES.items()}}


@router.put("/{study_uid}/quality")
def grade(request: Request, study_uid: str, body: GradeIn) -> dict[str, Any]:
    """Grade the study's image quality (a new grade; earlier ones are kept)."""
    archive = request.app.state.archive
    p = current_principal()
    try:
        out = archive.catalog.grade_quality(study_uid, body.grade, note=body.note, by=p.name, org_pk=p.org_pk)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from exc
    except NotFoundError as exc:
        raise HTTPException(404, "no such study") from exc
    archive.record("study.grade", object_type="study", object_ids=(study_uid,), study_uids=(study_uid,),
                   detail={"grade": body.grade})
    return out

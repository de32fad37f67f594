"""Statistics endpoints (placeholder until radhub.stats lands)."""

from fastapi import APIRouter

router = APIRouter(prefix="/stats")

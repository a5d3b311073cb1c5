"""The web dashboard: static pages served at `/` (being built)."""

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)

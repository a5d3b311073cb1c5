"""Chat about an instrument, grounded in its stored reports and articles (being built)."""

from __future__ import annotations

from fastapi import APIRouter
from ray import serve

router = APIRouter(prefix="/api/v1")


@serve.deployment
class Chat:
    """Answers chat messages; the API reaches it through a DeploymentHandle."""

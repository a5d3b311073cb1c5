"""The settings of data retention (jobs/retention.py): days kept per table, 0 = forever.
A base class of `configs.settings.Settings`, apart so that module stays small; read from
the environment with the same prefix (`STOCKRAY_`)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field
from pydantic_settings import BaseSettings


class RetentionSettings(BaseSettings):
    """Days each table's rows are kept by the retention job; 0 = keep forever."""

    retain_intraday_bars_days: Annotated[int, Field(ge=0)] = Field(
        90, description="Days intraday bars are kept (daily bars are history: never deleted)."
    )
    retain_article_bodies_days: Annotated[int, Field(ge=0)] = Field(
        365,
        description="Days an article keeps its body (summary); the row, title and fingerprint "
        "stay, and a report's cited articles keep theirs.",
    )
    retain_llm_usage_days: Annotated[int, Field(ge=0)] = Field(
        400, description="Days `llm_usage` rows (one per LLM call) are kept."
    )
    retain_job_runs_days: Annotated[int, Field(ge=0)] = Field(
        180, description="Days finished `job_runs` rows are kept (the newest of each kind stays)."
    )
    retain_story_index_days: Annotated[int, Field(ge=0)] = Field(
        30,
        description="Days the story matcher's index (signatures and bands) keeps an article; "
        "older ones keep their story id but a late article no longer joins their story.",
    )
    retain_api_daily_days: Annotated[int, Field(ge=0)] = Field(
        400, description="Days the API's per-day request counts (`api_daily`) are kept."
    )

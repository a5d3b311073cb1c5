"""ProviderService with a real client on an in-process transport: quotas, plan limits, health."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from configs.sections import ProviderConfig
from core.errors import PlanLimit, QuotaExhausted
from core.provider_service import ProviderService, outcome_of
from core.providers import AlphaVantageClient
from core.resilience import CircuitBreaker, CircuitOpen, LocalRateLimiter, Retrier
from tests.unit.providers.conftest import AAPL, raw

KEY = "AB12CD34EF56GH78"  # the key av_error_daily_quota_key.json echoes


class Provider:
    """Answers every request with one recorded body and counts the requests."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.requests = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        return httpx.Response(200, content=raw(self.name))


async def _noop_sleep(seconds: float) -> None:
    return None


def service(answer: Provider, plan: str = "premium") -> ProviderService:
    http = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    client = AlphaVantageClient("http://av.test", api_key=KEY, http=http, plan=plan)
    return ProviderService(
        "alphavantage",
        client,
        LocalRateLimiter("alphavantage", []),
        CircuitBreaker("alphavantage", failure_threshold=3, cooldown_s=30),
        Retrier("alphavantage", max_attempts=3, sleep=_noop_sleep),
    )


NOW = datetime.now(UTC)
WINDOW = (NOW - timedelta(days=30), NOW)


async def test_spent_quota_is_not_retried_and_holds_the_circuit_until_reset() -> None:
    answer = Provider("av_error_daily_quota_key.json")
    svc = service(answer)
    with pytest.raises(QuotaExhausted):
        await svc.call("fetch_bars", AAPL, *WINDOW)
    assert answer.requests == 1  # no retry: the quota will not come back within a deadline
    with pytest.raises(CircuitOpen, match="quota spent until"):
        await svc.call("fetch_bars", AAPL, *WINDOW)
    assert answer.requests == 1  # the open circuit sent nothing

    health = await svc.health()
    assert health["plan"] == "premium"
    assert health["circuit"]["state"] == "open" and health["circuit"]["reason"] == "quota"
    assert health["quota"]["exhausted"] is True
    reset_at = datetime.fromisoformat(health["quota"]["reset_at"])
    assert reset_at.astimezone(ZoneInfo("America/New_York")).time().isoformat() == "00:00:00"
    left = (reset_at - datetime.now(UTC)).total_seconds()
    assert health["circuit"]["retry_in_s"] == pytest.approx(left, abs=5)
    assert health["budget"]["paused_s"] == 0  # the circuit holds it, not a limiter pause
    assert health["counts"] == {"quota_exhausted": 1, "circuit_open": 1}
    assert KEY not in str(health["last_error"])


async def test_plan_limit_is_not_retried_and_leaves_the_circuit_closed() -> None:
    answer = Provider("av_error_premium.json")
    svc = service(answer)
    for _ in range(4):  # more than failure_threshold
        with pytest.raises(PlanLimit):
            await svc.call("fetch_bars", AAPL, *WINDOW)
    assert answer.requests == 4
    health = await svc.health()
    assert health["circuit"]["state"] == "closed"
    assert health["circuit"]["consecutive_failures"] == 0
    assert health["quota"] == {"exhausted": False, "reset_at": None}
    assert health["last_error"]["type"] == "plan_limit"


async def test_a_window_beyond_the_free_plan_sends_nothing() -> None:
    answer = Provider("av_daily_empty.json")
    svc = service(answer, plan="free")
    with pytest.raises(PlanLimit):
        await svc.call("fetch_bars", AAPL, NOW - timedelta(days=400), NOW)
    assert answer.requests == 0
    assert (await svc.health())["plan"] == "free"


def test_build_passes_the_plan_to_the_client() -> None:
    config = ProviderConfig(base_url="http://av.test", plan={"tier": "premium"})
    assert ProviderService.build("alphavantage", config, api_key="k").client.plan == "premium"
    default = ProviderConfig(base_url="http://av.test")
    assert ProviderService.build("alphavantage", default, api_key="k").client.plan == "free"


def test_outcome_labels() -> None:
    reset = NOW + timedelta(hours=1)
    assert outcome_of(QuotaExhausted("p", "spent", reset)) == "quota_exhausted"
    assert outcome_of(PlanLimit("p", "premium")) == "plan_limit"

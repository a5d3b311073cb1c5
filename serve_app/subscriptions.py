"""REST API `/api/v1/subscriptions`: which instruments and events a key wants live.

A subscription belongs to the key that made it: another key neither sees nor deletes it
(404, the same answer as for an id that does not exist). The WebSocket starts each of the
key's connections with the union of its subscriptions. Instruments and events are stored
sorted and without repeats, so POSTing the same subscription twice returns the first one.
A key holds at most `STOCKRAY_WS_MAX_RULES` subscriptions (409 beyond), the most one socket
takes.
"""

from typing import Annotated, Literal, get_args

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field

from core.storage import subscriptions as stored
from core.storage.api_keys import KeyInfo
from serve_app.auth import require
from serve_app.context import Ctx
from serve_app.errors import KEYED, WITH_BODY, ApiError, error_responses, uuid_or_404

EventType = Literal["bar", "article", "report.published", "job.progress", "provider.circuit"]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)
MAX_ITEMS = 200

router = APIRouter(prefix="/api/v1", tags=["subscriptions"], responses=error_responses(*KEYED, 422))
Caller = Annotated[KeyInfo, Depends(require("read"))]


class NewSubscription(BaseModel):
    """Instruments (watchlist ids) and event types; an empty list means all of them."""

    model_config = ConfigDict(extra="forbid")

    instruments: Annotated[list[Annotated[str, Field(min_length=1)]], Field(max_length=MAX_ITEMS)]
    events: Annotated[list[EventType], Field(max_length=len(EVENT_TYPES))] = []


class Subscription(BaseModel):
    """A stored subscription."""

    id: str
    instruments: list[str]
    events: list[str]
    created_at: str


class SubscriptionList(BaseModel):
    """This key's subscriptions, oldest first."""

    subscriptions: list[Subscription]


def _out(found: stored.Subscription) -> Subscription:
    return Subscription(
        id=str(found.id),
        instruments=list(found.instruments),
        events=list(found.events),
        created_at=found.created_at.isoformat(),
    )


@router.post(
    "/subscriptions",
    status_code=201,
    responses={
        200: {"model": Subscription, "description": "the same subscription existed"},
        **error_responses(
            *WITH_BODY, 409, 422, why={409: "the key holds the most subscriptions it may"}
        ),
    },
)
async def create_subscription(
    body: NewSubscription, ctx: Ctx, key: Caller, response: Response
) -> Subscription:
    """Subscribe this key to events of instruments (201, or 200 if it already was)."""
    instruments, events = sorted(set(body.instruments)), sorted(set(body.events))
    limit = ctx.settings.ws_max_rules
    done = await stored.subscribe(await ctx.pool(), key.id, instruments, events, limit)
    if done.subscription is None and done.unknown:
        raise ApiError(
            422, "invalid_request", "unknown instruments",
            [{"field": "instruments", "problem": f"{i!r} is not on the watchlist"}
             for i in done.unknown],
        )  # fmt: skip
    if done.subscription is None:  # each stored subscription is loaded into the key's sockets
        raise ApiError(
            409, "too_many_subscriptions",
            f"this key has {done.held} subscriptions, the most it may (STOCKRAY_WS_MAX_RULES)",
            {"limit": limit},
        )  # fmt: skip
    if not done.created:  # a retry, or the same subscription made before
        response.status_code = 200
    return _out(done.subscription)


@router.get("/subscriptions", response_model=SubscriptionList)
async def list_subscriptions(ctx: Ctx, key: Caller) -> dict[str, list[Subscription]]:
    """This key's subscriptions, oldest first."""
    found = await stored.of_key(await ctx.pool(), key.id)
    return {"subscriptions": [_out(s) for s in found]}


@router.get("/subscriptions/{subscription_id}", responses=error_responses(404))
async def get_subscription(subscription_id: str, ctx: Ctx, key: Caller) -> Subscription:
    """One of this key's subscriptions."""
    found = await stored.get(await ctx.pool(), uuid_or_404(subscription_id, "subscription"), key.id)
    if found is None:
        raise ApiError(404, "not_found", f"no subscription {subscription_id!r}")
    return _out(found)


@router.delete(
    "/subscriptions/{subscription_id}",
    status_code=204,
    responses=error_responses(*WITH_BODY, 404),
)
async def delete_subscription(subscription_id: str, ctx: Ctx, key: Caller) -> Response:
    """Remove one of this key's subscriptions."""
    deleted = await stored.delete(
        await ctx.pool(), uuid_or_404(subscription_id, "subscription"), key.id
    )
    if not deleted:
        raise ApiError(404, "not_found", f"no subscription {subscription_id!r}")
    return Response(status_code=204)

"""Typed events and the `/ws` protocol without sockets: shapes on the wire, the committed
JSON Schema, and one replica's fan-out (`core.live.feed`) fed by hand."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from core import events
from core.live import protocol, schema
from core.live.feed import Client, Feed
from core.models import Article, Bar

WHEN = datetime(2024, 3, 1, 14, 30, tzinfo=UTC)


def _validator(definition: str) -> Draft202012Validator:
    doc = json.loads(schema.DOCUMENT.read_text())
    return Draft202012Validator({**doc, "anyOf": [{"$ref": f"#/$defs/{definition}"}]})


def _bar(close: float, ts: datetime) -> Bar:
    return Bar("AAPL", "1d", ts, 1.0, 2.0, 0.5, close, 100, "yahoo")


def test_the_committed_schema_document_is_current() -> None:
    assert schema.DOCUMENT.read_text() == schema.render(), "run python -m core.live.schema"
    assert schema.main(["--check"]) == 0


def test_the_protocol_offers_the_public_event_kinds() -> None:
    assert protocol.Kind.__args__ == events.KINDS
    assert "collected" not in events.KINDS


def test_published_payloads_keep_their_wire_shape() -> None:
    bar = events.Bar.newest([_bar(3.0, WHEN), _bar(2.5, WHEN.replace(day=1, month=2))], "1d")
    assert bar.dump() == {
        "interval": "1d", "ts": "2024-03-01T14:30:00+00:00", "open": 1.0, "high": 2.0,
        "low": 0.5, "close": 3.0, "volume": 100, "provider": "yahoo", "previous_close": 2.5,
    }  # fmt: skip
    article = Article("fp1", "https://x.test/a", "A title", None, WHEN, "newsapi", "en", "Wire")
    assert events.Article.of(article).dump() == {
        "id": "fp1", "title": "A title", "url": "https://x.test/a",
        "published_at": "2024-03-01T14:30:00+00:00", "source": "Wire",
    }  # fmt: skip
    collected = events.Collected(
        instrument="AAPL", counts={"saved": 1}, providers={}, errors={}, backfill_id="bf"
    )
    assert "new_articles" not in collected.dump() and collected.dump()["backfill_id"] == "bf"
    progress = events.CollectProgress(
        run_id="r", trace_id="t", done=1, total=2, counts={"saved": 1}, last="AAPL"
    )
    assert progress.dump()["kind"] == "collect"
    body = events.body(events.ReportPublished(instrument="AAPL", report_id="r1", trace_id="t"))
    assert (body["type"], body["instrument"]) == ("report.published", "AAPL")
    assert set(body) == {"type", "instrument", "at", "payload"}


def test_published_events_parse_as_their_kind_and_match_the_document() -> None:
    sent = _validator("ServerMessage")
    built = [
        (events.Bar.newest([_bar(3.0, WHEN)], "1d"), "AAPL", events.BarEvent),
        (events.BackfillProgress(run_id="r", trace_id="t", backfill_id="b", done=1, total=3,
                                 counts={"saved": 2, "chunks_total": 3}), None,
         events.JobProgressEvent),
        (events.ProviderCircuit(provider="yahoo", state="open", previous="closed",
                                retry_in_s=30.0, quota=None, last_error={"type": "timeout"}),
         None, events.ProviderCircuitEvent),
    ]  # fmt: skip
    for event_id, (payload, instrument, kind) in enumerate(built, 1):
        raw = json.loads(events.dumps({"id": event_id, **events.body(payload, instrument)}))
        assert type(events.parse_event(raw)) is kind
        sent.validate(raw)


def test_a_payload_its_kind_does_not_take_still_parses() -> None:
    raw = {"id": 7, "type": "bar", "instrument": "X", "at": 1.0, "payload": {"n": 1}}
    parsed = events.parse_event(raw)
    assert isinstance(parsed, events.OtherEvent) and parsed.payload == {"n": 1}
    with pytest.raises(ValueError):
        events.parse_event({"type": "bar"})  # not an event at all


def test_replies_are_built_from_the_models_in_the_document() -> None:
    sent = _validator("ServerMessage")
    rule = protocol.Rule(frozenset({"MSFT", "AAPL"}), frozenset({"bar"}))
    replies = [
        protocol.hello({rule}, None),
        protocol.changed("subscribe", rule, 1),
        protocol.changed("subscribe", None, 1),
        protocol.changed("unsubscribe", rule, 0),
        protocol.listing([rule], 0),
        protocol.pong(5),
        protocol.heartbeat(5),
        protocol.lagged("overflow", 9),
        protocol.BadMessage("no", "unknown_instruments", unknown=["X"]).reply(),
    ]
    texts = [json.loads(r.text()) for r in replies]
    for text in texts:
        sent.validate(text)
    assert texts[0] == {
        "type": "subscribed", "count": 1, "replica": None,
        "subscriptions": [{"instruments": ["AAPL", "MSFT"], "events": ["bar"]}],
    }  # fmt: skip
    assert texts[2] == {"type": "subscribed", "added": [], "count": 1}
    assert texts[4]["next_offset"] is None
    assert texts[8] == {
        "type": "error", "code": "unknown_instruments", "message": "no", "unknown": ["X"]
    }  # fmt: skip
    assert "unknown" not in json.loads(protocol.BadMessage("bad").reply().text())


def test_client_messages_parse_to_the_models_of_the_document() -> None:
    taken = _validator("ClientMessage")
    for text in (
        '{"type":"ping"}',
        '{"type":"list","offset":100}',
        '{"type":"subscribe","instruments":["AAPL"],"events":["bar"],"last_event_id":3}',
        '{"type":"unsubscribe","events":["article"]}',
    ):
        taken.validate(json.loads(text))
        message = protocol.parse(text)
        assert message.type == json.loads(text)["type"]
    subscribe = protocol.parse('{"type":"subscribe","instruments":["AAPL"],"events":null}')
    assert protocol.Rule.of(subscribe) == protocol.Rule(frozenset({"AAPL"}), frozenset())
    refused = {
        "nope": "invalid_message",
        '{"type":"subscribe","events":["weather"]}': "unknown_events",
        '{"type":"subscribe","instruments":"AAPL"}': "invalid_message",
        '{"type":"unsubscribe","last_event_id":1}': "invalid_message",
        '{"type":"list","offset":-1}': "invalid_message",
    }
    for text, code in refused.items():
        with pytest.raises(protocol.BadMessage) as caught:
            protocol.parse(text)
        assert caught.value.code == code, text


def _event(event_id: int, kind: str, instrument: str | None, **payload: Any) -> dict[str, Any]:
    return {"id": event_id, "type": kind, "instrument": instrument, "at": 1.0, "payload": payload}


async def _known(ids: list[str]) -> set[str]:
    return {i for i in ids if i.startswith("W")}


async def test_the_feed_fans_out_replays_and_tells_of_gaps() -> None:
    seen: list[dict[str, Any]] = []
    feed = Feed(_known, max_sockets_per_key=1, on_event=seen.append)
    feed.seed(10, [_event(11, "bar", "WA")])
    client = Client(uuid.uuid4(), 15.0)
    client.rules = {protocol.Rule(frozenset({"WA"}), frozenset({"bar"})): None}
    feed.register(client, None)
    feed.accept(0, [_event(12, "bar", "WB"), _event(13, "bar", "WA", n=1)])
    feed.accept(0, [_event(14, "collected", "WA"), _event(15, "article", "WA")])
    assert [i for i, _ in client.queue] == [13]
    assert json.loads(client.queue[0][1]) == _event(13, "bar", "WA", n=1)  # as the hub sent it
    assert [e["id"] for e in seen] == [12, 13, 14, 15]
    assert [i for i, _ in feed.replay(client, 10) or []] == [11, 13]
    assert feed.replay(client, 5) is None  # older than the ring
    feed.accept(20, [_event(21, "bar", "WA")])  # the hub lost 16-20
    assert client.lagged_at == 20 and [i for i, _ in client.queue] == [21]
    assert feed.admit(client.key_id) and not feed.admit(client.key_id)
    assert await feed.unknown_instruments(frozenset({"WA", "NOPE"})) == ["NOPE"]

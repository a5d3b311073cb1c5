"""What the simulated LLM answers: token counting, and a deterministic reply to the prompt
contract in sim/README.md (`ARTICLES:` → per-article sentiment, `REPORT:` → a cited report,
on computed facts when it is given some (sim.providers.llm_reports), `SOURCES:` +
`QUESTION:` → a plain-text answer citing source ids as `[a1]`).

Every number is a pure function of (seed, request text), so the same request gets the same answer.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from sim import rng
from sim.news import LABEL_THRESHOLD, NewsModel, label_of, normalise_title
from sim.providers.llm_reports import grounded_report

MESSAGE_OVERHEAD = 4  # tokens per message for role and separators, as OpenAI's chat format has
ACCURACY = 0.9  # share of articles whose label matches the truth (a good, not perfect, model)

_POSITIVE = [
    "jump",
    "beat",
    "raise",
    "raises",
    "upgrade",
    "record",
    "buyback",
    "wins",
    "win",
    "bullish",
    "accelerat",
    "strong",
    "surge",
    "expansion",
    "급증",
    "상승",
    "매수",
    "상향",
    "최대",
    "체결",
    "회복",
    "매입",
]
_NEGATIVE = [
    "slide",
    "disappoint",
    "probe",
    "recall",
    "miss",
    "misses",
    "downgrade",
    "disruption",
    "sued",
    "weak",
    "slowing",
    "fall",
    "plunge",
    "부진",
    "하락",
    "조사",
    "하향",
    "리콜",
    "약세",
    "중단",
    "차질",
    "우려",
    "위축",
    "매도",
]
_RATINGS = ((0.5, "strong_buy"), (0.15, "buy"), (-0.15, "hold"), (-0.5, "sell"))
_OUTLOOK = {
    "strong_buy": "News flow is clearly favourable; momentum likely continues near term.",
    "buy": "Coverage leans positive; modest upside if the themes hold.",
    "hold": "Coverage is mixed; no clear direction from the news alone.",
    "sell": "Coverage leans negative; risks outweigh the positives for now.",
    "strong_sell": "News flow is clearly unfavourable; expect continued pressure.",
}


def count_tokens(text: str) -> int:
    """The sim's token rule: one token per started 4 bytes of UTF-8."""
    return math.ceil(len(text.encode()) / 4)


def message_text(content: object) -> str:
    """A message's text: a string, or the `text` of each content part joined by newlines."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
    return ""


def prompt_tokens(messages: Sequence[Mapping]) -> int:
    """Sum over messages of count_tokens(text) + MESSAGE_OVERHEAD."""
    return sum(count_tokens(message_text(m.get("content"))) + MESSAGE_OVERHEAD for m in messages)


def answer(
    news: NewsModel,
    seed: int,
    messages: Sequence[Mapping],
    response_format: Mapping | None,
    bad_citation_rate: float = 0.0,
    ungrounded_rate: float = 0.0,
) -> str:
    """The full completion text (before any max_tokens cut) for this request."""
    users = [m for m in messages if m.get("role") == "user"]
    text = message_text(users[-1].get("content")) if users else ""
    digest = rng.key(seed, "llm", json.dumps(list(messages), sort_keys=True, default=str))
    kind = (response_format or {}).get("type", "text")
    articles = _payload(text, "ARTICLES")
    if isinstance(articles, Mapping):
        articles = articles.get("articles")
    if isinstance(articles, list):
        verdicts = [_article(news, seed, a) for a in articles if _is_obj(a)]
        if verdicts and rng.unit(rng.at(digest, 1)) < bad_citation_rate:
            verdicts[0]["id"] = "a1001"  # an id that was not given: the answer must be refused
        return _dump({"articles": verdicts})
    report = _payload(text, "REPORT")
    if report is None and re.search(r"^[ \t]*FIX:", text, re.MULTILINE):
        # a repair request: a fresh note on the report asked for earlier in the conversation
        earlier = [_payload(message_text(m.get("content")), "REPORT") for m in users[:-1]]
        report = next((r for r in reversed(earlier) if isinstance(r, Mapping)), None)
    if isinstance(report, Mapping):
        bad = rng.unit(rng.at(digest, 1)) < bad_citation_rate
        if "facts" not in report:
            return _dump(_report(report, bad, digest))
        note = grounded_report(report, digest, ungrounded_rate)
        if bad:
            bogus = f"sim-{rng.at(digest, 2):012x}"[:16]
            note["citations"].append(bogus)
            if note["positives"] or note["concerns"]:
                (note["positives"] or note["concerns"])[0]["citations"].append(bogus)
        return _dump(note)
    sources = _payload(text, "SOURCES")
    if isinstance(sources, Mapping) and kind == "text":
        bad = rng.unit(rng.at(digest, 1)) < bad_citation_rate
        return _chat(sources, _question(text), bad)
    plain = _plain(text, digest)
    if kind == "json_schema":
        schema = (response_format or {}).get("json_schema", {}).get("schema") or {}
        return _dump(_instance(schema, plain))
    schema = (response_format or {}).get("schema")
    if kind == "json_object" and isinstance(schema, Mapping):  # llama.cpp's server takes one
        return _dump(_instance(schema, plain))
    if kind == "json_object":
        return _dump({"answer": plain})
    return plain


def _dump(data: object) -> str:
    return json.dumps(data, ensure_ascii=False)


def _is_obj(value: object) -> bool:
    return isinstance(value, Mapping)


def _payload(text: str, marker: str) -> Any:
    """The JSON value after a line starting `MARKER:` (optionally in a ``` fence), or None."""
    found = re.search(rf"^[ \t]*{marker}:[ \t]*", text, re.MULTILINE)
    if not found:
        return None
    rest = text[found.end() :].lstrip()
    rest = re.sub(r"^```(?:json)?\s*", "", rest)
    try:
        value, _ = json.JSONDecoder().raw_decode(rest)
    except json.JSONDecodeError:
        return None
    return value


def _article(news: NewsModel, seed: int, item: Mapping) -> dict:
    """One article's analysis: the true label (or a keyword guess), wrong ~10% of the time."""
    title, body = str(item.get("title") or ""), str(item.get("text") or "")
    story = news.find_title(title) if title else None
    if story is not None:
        score, label = story.score, story.label
    else:
        score = _heuristic(f"{title} {body}")
        label = label_of(score)
    h = rng.key(seed, "llm", "article", normalise_title(title) or str(item.get("id")))
    if rng.unit(h) >= ACCURACY:  # a plausible mistake: one of the other two labels
        others = [x for x in ("positive", "negative", "neutral") if x != label]
        label = others[rng.at(h, 1) & 1]
        score = {"positive": 0.45, "negative": -0.45, "neutral": 0.0}[label]
    sentiment = score + (rng.unit(rng.at(h, 2)) - 0.5) * 0.08
    # keep the noisy score on the label's side of the threshold: label and number agree
    lo, hi = {
        "positive": (LABEL_THRESHOLD, 1.0),
        "negative": (-1.0, -LABEL_THRESHOLD),
        "neutral": (-LABEL_THRESHOLD + 0.01, LABEL_THRESHOLD - 0.01),
    }[label]
    relevance = (0.6 if story is not None else 0.3) + 0.4 * rng.unit(rng.at(h, 3))
    return {
        "id": item.get("id"),
        "sentiment": round(min(hi, max(lo, sentiment)), 3),
        "label": label,
        "relevance": round(min(1.0, relevance), 2),
        "gist": _gist(title, body),
    }


def _heuristic(text: str) -> float:
    """A keyword score in [-1, 1] for articles the sim did not write."""
    lowered = text.lower()
    pos = sum(word in lowered for word in _POSITIVE)
    neg = sum(word in lowered for word in _NEGATIVE)
    if pos == neg:
        return 0.0
    return round(0.6 * (pos - neg) / (pos + neg), 4)


def _gist(title: str, body: str) -> str:
    line = title or re.split(r"(?<=[.!?])\s", body.strip(), maxsplit=1)[0]
    line = " ".join(line.split())
    return line if len(line) <= 120 else line[:117] + "..."


def _report(payload: Mapping, bad_citation: bool, digest: int) -> dict:
    """A report on the given articles, citing only their ids (unless `bad_citation`)."""
    instrument = payload.get("instrument")
    if isinstance(instrument, Mapping):
        instrument = instrument.get("name") or instrument.get("id")
    name = str(instrument or "the instrument")
    items = [a for a in payload.get("articles") or [] if _is_obj(a) and "id" in a]
    scored = [(_float(a.get("sentiment")), a) for a in items]
    ranked = sorted(scored, key=lambda sa: -sa[0])
    positives = [_point(a) for s, a in ranked if s >= LABEL_THRESHOLD][:3]
    concerns = [_point(a) for s, a in reversed(ranked) if s <= -LABEL_THRESHOLD][:3]
    mean = sum(s for s, _ in scored) / len(scored) if scored else 0.0
    rating = next((r for floor, r in _RATINGS if mean >= floor), "strong_sell")
    cited = [p["citations"][0] for p in positives + concerns]
    citations = cited or [a["id"] for a in items[:3]]
    if bad_citation:
        ids = [a["id"] for a in items]
        if ids and all(isinstance(i, int) for i in ids):
            bogus: object = max(ids) + 1000
        else:
            bogus = f"sim-{rng.at(digest, 2):012x}"[:16]
        citations = [*citations, bogus]
        if positives or concerns:
            (positives or concerns)[0]["citations"].append(bogus)
    n_pos = sum(s >= LABEL_THRESHOLD for s, _ in scored)
    n_neg = sum(s <= -LABEL_THRESHOLD for s, _ in scored)
    return {
        "summary": (
            f"{name}: {len(items)} articles, {n_pos} positive and {n_neg} negative; "
            f"average sentiment {mean:+.2f}."
        ),
        "positives": positives,
        "concerns": concerns,
        "outlook": _OUTLOOK[rating],
        "rating": rating,
        "sentiment": round(mean, 3),
        "citations": citations,
    }


def _float(value: object) -> float:
    try:
        return max(-1.0, min(1.0, float(value)))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0


def _point(article: Mapping) -> dict:
    return {"text": _gist(str(article.get("title") or ""), ""), "citations": [article["id"]]}


def _question(text: str) -> str:
    found = re.search(r"^[ \t]*QUESTION:[ \t]*", text, re.MULTILINE)
    return text[found.end() :].strip() if found else ""


def _chat(payload: Mapping, question: str, bad_citation: bool) -> str:
    """A chat answer from the sources sharing most words with the question, cited `[id]`."""
    instrument = payload.get("instrument")
    if isinstance(instrument, Mapping):
        instrument = instrument.get("name") or instrument.get("id")
    items = [s for s in payload.get("sources") or [] if _is_obj(s) and s.get("id")]
    if not items:
        return f"The sources say nothing about {instrument or 'this instrument'} yet."
    asked = set(re.findall(r"\w{3,}", question.lower()))
    ranked = sorted(
        enumerate(items),
        key=lambda p: (-len(asked & set(re.findall(r"\w{3,}", _source_text(p[1]).lower()))), p[0]),
    )
    lines = [f"On {instrument or 'the instrument'}, the sources say:"]
    for _, item in ranked[:3]:
        lines.append(
            f"{_gist(str(item.get('title') or ''), str(item.get('text') or ''))} [{item['id']}]."
        )
    if bad_citation:
        lines.append(f"See also [a{len(items) + 1000}].")  # an id that was not in the input
    return " ".join(lines)


def _source_text(item: Mapping) -> str:
    return f"{item.get('title') or ''} {item.get('text') or ''}"


def _plain(text: str, digest: int) -> str:
    words = len(text.split())
    openers = ("Here is a brief answer.", "In short:", "Summary:", "Briefly put:")
    return (
        f"{openers[digest % len(openers)]} This is the stockray simulator's model; "
        f"your message had {words} words. Ask with ARTICLES: or REPORT: for structured analysis."
    )


def _instance(schema: Mapping, plain: str, depth: int = 0, root: Mapping | None = None) -> Any:
    """A minimal value that validates against a (simple) JSON schema; local `$ref`s followed."""
    root = schema if root is None else root
    if depth > 8:
        return None
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, Mapping) else {}
        return _instance(target, plain, depth + 1, root)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            return _instance(schema[key][0], plain, depth + 1, root)
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        props = schema.get("properties") or {}
        return {k: _instance(v, plain, depth + 1, root) for k, v in props.items()}
    if kind == "array":
        return [_instance(schema.get("items") or {}, plain, depth + 1, root)]
    minimum = schema.get("minimum", 0)
    values = {"string": plain, "number": float(minimum), "integer": int(minimum), "boolean": True}
    return values.get(kind)

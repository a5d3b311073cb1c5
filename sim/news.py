"""Deterministic news stories with a known true sentiment, and their copies per provider.

A story is written once (title, body, true label and score) and then published by NewsAPI,
Alpha Vantage or both. Some copies are deliberate duplicates: the same story twice in NewsAPI
with tracking parameters on the URL (`?utm_source=x`), or in both providers. Some stories are
republished by another outlet (`REPUBLISH_RATE`): a near duplicate with an agency prefix or
portal suffix on the title and its own URL, `republishes` naming the original (the truth
endpoint shows it; `core.stories` should group the two). Only the sim's
truth endpoint reveals the true label; NewsAPI bodies never carry it.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sim import rng
from sim.calendar import zone
from sim.news_text import AUTHORS, FILLER, HEADLINES, LEADS, OUTLETS, POOLS, TRACKING
from sim.universe import SimInstrument, Universe

LABEL_THRESHOLD = 0.2  # |score| at or above this is positive/negative, below it neutral


@dataclass(frozen=True, slots=True)
class Copy:
    """One provider's copy of a story: where and when that provider lists it."""

    provider: str
    url: str
    published_at: datetime
    removed: bool = False  # NewsAPI shows it as a "[Removed]" placeholder


@dataclass(frozen=True)
class Story:
    """A news story about `tickers[0]`, with the sentiment the sim knows to be true."""

    id: str
    instrument_id: str
    language: str
    title: str
    description: str
    url: str
    source_id: str | None
    source: str
    domain: str
    author: str | None
    published_at: datetime
    score: float
    label: str
    topic: str
    tickers: tuple[str, ...]
    copies: tuple[Copy, ...] = field(default=())
    republishes: str | None = None  # a republication (variant title, other outlet) of this id

    @property
    def content(self) -> str:
        """The article body (derived, so that a large universe's stories stay small)."""
        return f"{self.description} {FILLER[self.language] * 3}".strip()

    def copies_for(self, provider: str) -> list[Copy]:
        """This story's copies listed by `provider`."""
        return [c for c in self.copies if c.provider == provider]

    def truth(self) -> dict:
        """The story as the truth endpoint shows it, true label included."""
        return {
            "id": self.id,
            "instrument_id": self.instrument_id,
            "tickers": list(self.tickers),
            "language": self.language,
            "title": self.title,
            "description": self.description,
            "url": self.url,
            "source": self.source,
            "published_at": _iso(self.published_at),
            "label": self.label,
            "score": self.score,
            "topic": self.topic,
            "republishes": self.republishes,
            "copies": [
                {
                    "provider": c.provider,
                    "url": c.url,
                    "published_at": _iso(c.published_at),
                    "removed": c.removed,
                }
                for c in self.copies
            ],
        }


def _iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def label_of(score: float) -> str:
    """positive / negative / neutral for a true score in [-1, 1]."""
    if score >= LABEL_THRESHOLD:
        return "positive"
    return "negative" if score <= -LABEL_THRESHOLD else "neutral"


def normalise_title(title: str) -> str:
    """Lower-case words only, so quoting, punctuation and spacing changes still match."""
    return " ".join(re.findall(r"\w+", title.lower()))


def _slug(text: str) -> str:
    return "-".join(re.findall(r"[a-z0-9]+", text.lower()))[:80].strip("-")


class NewsModel:
    """Stories per instrument and day for one seed."""

    def __init__(self, seed: int, universe: Universe) -> None:
        self.seed = seed
        self.universe = universe
        self._cache: dict[tuple[str, date], list[Story]] = {}
        self._by_title: dict[str, Story] = {}  # every story generated so far (the LLM's lookup)
        self._peers = {
            cur: [i for i in universe.instruments if i.currency == cur and not i.synthetic]
            for cur in {i.currency for i in universe.instruments}
        }

    def day(self, inst: SimInstrument, day: date) -> list[Story]:
        """The stories about `inst` published on local calendar day `day`."""
        cached = self._cache.get((inst.id, day))
        if cached is None:
            if len(self._cache) > 50_000:
                self._cache.clear()
            r = rng.rng(self.seed, "news", inst.id, day.toordinal())
            weekday = day.weekday() < 5
            if inst.synthetic:
                count = r.choice([0, 0, 0, 1, 1, 2]) if weekday else 0
            else:
                count = r.choice([0, 1, 1, 2, 2, 2, 3, 3, 4]) if weekday else r.choice([0, 0, 1])
            cached = [self._story(inst, day, i, r) for i in range(count)]
            cached += [v for v in map(_republished_story, cached) if v is not None]
            self._cache[(inst.id, day)] = cached
            if len(self._by_title) > 200_000:
                self._by_title.clear()
            self._by_title.update((normalise_title(s.title), s) for s in cached)
        return cached

    def find_title(self, title: str) -> Story | None:
        """A story generated so far (served or shown by the truth endpoint) with this title."""
        return self._by_title.get(normalise_title(title))

    def window(self, insts: list[SimInstrument], start: datetime, end: datetime) -> list[Story]:
        """Stories about `insts` published in [start, end] (UTC), newest first, no repeats."""
        seen: dict[str, Story] = {}
        day, last = (start - timedelta(days=1)).date(), (end + timedelta(days=1)).date()
        while day <= last:
            for inst in insts:
                for story in self.day(inst, day):
                    if start <= story.published_at <= end:
                        seen.setdefault(story.id, story)
            day += timedelta(days=1)
        return sorted(seen.values(), key=lambda s: (s.published_at, s.id), reverse=True)

    def newest_first(
        self, insts: list[SimInstrument], start: datetime, end: datetime
    ) -> Iterator[Story]:
        """`window`'s stories, newest first, generated a day at a time: a caller wanting only
        the latest few (a market-wide feed over a large universe) stops early."""
        seen: set[str] = set()
        upper = end
        while upper >= start:
            lower = max(start, upper - timedelta(days=1))
            for story in self.window(insts, lower, upper):
                if story.id not in seen:
                    seen.add(story.id)
                    yield story
            if lower == start:
                break
            upper = lower

    def _story(self, inst: SimInstrument, day: date, index: int, r: random.Random) -> Story:
        korean = inst.korean_name is not None and inst.currency == "KRW"
        lang = "ko" if korean and r.random() < 0.7 else "en"
        label = r.choices(["positive", "negative", "neutral"], weights=[35, 30, 35])[0]
        score = {
            "positive": r.uniform(0.25, 0.95),
            "negative": r.uniform(-0.95, -0.25),
            "neutral": r.uniform(-0.15, 0.15),
        }[label]
        template, topic = r.choice(HEADLINES[lang][label])
        name = inst.korean_name if lang == "ko" else inst.short_name
        fields = {k: r.choice(v) for k, v in POOLS[lang].items()}
        title = template.format(
            name=name,
            pct=round(r.uniform(1.5, 9.5), 1),
            amount=r.choice([5, 10, 25, 50]),
            quarter=(day.month - 1) // 3 + 1,
            **fields,
        )
        lead = r.choice(LEADS[lang][label])
        description = f"{title}. {lead}" if lang == "en" else f"{title}… {lead}"
        source_id, source, domain = r.choice(OUTLETS[lang])
        story_id = f"{rng.key(self.seed, 'story', inst.id, day.toordinal(), index):016x}"[:12]
        if lang == "en":
            url = f"https://{domain}/markets/{day:%Y/%m/%d}/{_slug(title)}-{story_id[:6]}/"
        else:
            url = f"https://{domain}/article/{day:%Y%m%d}{int(story_id[:5], 16):07d}"
        local = datetime.combine(day, time(7), tzinfo=zone(inst.timezone))
        published = (local + timedelta(seconds=r.randrange(13 * 3600))).astimezone(UTC)
        tickers = [inst.id]
        peers = [p for p in self._peers.get(inst.currency, []) if p.id != inst.id]
        if peers and r.random() < 0.15:  # some stories also mention a peer
            tickers.append(r.choice(peers).id)
        story = Story(
            id=story_id,
            instrument_id=inst.id,
            language=lang,
            title=title,
            description=description,
            url=url,
            source_id=source_id,
            source=source,
            domain=domain,
            author=r.choice(AUTHORS[lang]),
            published_at=published,
            score=round(score, 4),
            label=label_of(score),
            topic=topic,
            tickers=tuple(tickers),
        )
        return _with_copies(story, r)


REPUBLISH_RATE = 0.1  # share of stories another outlet republishes with a variant title
_VARIANTS = {
    "en": ["UPDATE 1-{t}", "{t} - Yahoo Finance", "(Reuters) - {t}", "BRIEF-{t}", "{t} | Nasdaq"],
    "ko": ["[속보] {t}", "{t} - 연합뉴스", "[종합] {t}", "[단독] {t}", "{t} | 한국경제"],
}


def _republished_story(story: Story) -> Story | None:
    """Another outlet's republication of `story` (for REPUBLISH_RATE of them), minutes to
    hours later: the same body under an agency prefix or portal suffix, its own URL. Drawn
    from its own stream, so the other stories stay as they were."""
    r = rng.rng(0, "republish", story.id)
    if r.random() >= REPUBLISH_RATE:
        return None
    title = r.choice(_VARIANTS[story.language]).format(t=story.title)
    outlets = [o for o in OUTLETS[story.language] if o[2] != story.domain]
    source_id, source, domain = r.choice(outlets)
    rid = f"{story.id}r"
    url = f"https://{domain}/news/{story.published_at:%Y%m%d}/{rid}"
    later = story.published_at + timedelta(minutes=r.randint(5, 180))
    variant = Story(**{**story.__dict__, "id": rid, "title": title, "url": url,
                       "source_id": source_id, "source": source, "domain": domain,
                       "published_at": later, "republishes": story.id})  # fmt: skip
    return _with_copies(variant, r)


def _with_copies(story: Story, r: random.Random) -> Story:
    """Decide which providers list the story, and which duplicates they carry."""
    channel = r.random()
    in_av = story.language == "en" and channel >= 0.6
    in_newsapi = story.language == "ko" or channel < 0.6 or channel >= 0.8
    copies: list[Copy] = []
    if in_newsapi:
        copies.append(Copy("newsapi", story.url, story.published_at, removed=r.random() < 0.02))
        if r.random() < 0.2:  # syndicated again later, with tracking parameters
            later = story.published_at + timedelta(minutes=r.randint(1, 90))
            copies.append(Copy("newsapi", f"{story.url}?{r.choice(TRACKING)}", later))
    if in_av:
        url = story.url if r.random() < 0.7 else f"{story.url}?utm_source=alphavantage"
        copies.append(Copy("alphavantage", url, story.published_at))
    return Story(**{**story.__dict__, "copies": tuple(copies)})

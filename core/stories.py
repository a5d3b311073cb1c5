"""One story, many sources: grouping near-duplicate articles under one story id (Ray-free).

The same wire story is republished with small changes (agency prefixes such as "(Reuters) -",
"UPDATE 1-" or "[속보]", portal suffixes such as " - Yahoo Finance", punctuation, a clause
added, the lead cut) and the same report reaches us from two providers under two URLs, so
two fingerprints. Those get one `story_id`; the exact duplicates stay deduplicated by
fingerprint (`core.fingerprint`) before they get here.

How: the title and the lead (the first `LEAD_CHARS` of the summary) are normalised (NFKC,
casefold, agency prefixes, datelines and portal suffixes removed, Reuters' "bln"/"mln"
spelled out, punctuation dropped) and cut into character `SHINGLE`-grams (words would not
do for Korean, whose particles stick to the nouns). A `datasketch` MinHash of `NUM_PERM`
permutations estimates the Jaccard similarity of two shingle sets; the LSH bands of that
signature (datasketch's own choice of bands × rows for `THRESHOLD`) find the candidates,
and a candidate joins only when its estimated similarity is at least `THRESHOLD` and it is
in the same language (a translation shares no shingles anyway: excluded by design).

Templated notes ("X shares jump 3% after earnings beat estimates") repeat the same words
about other companies and on other days, so a candidate must also be about one of the same
instruments and published within `WINDOW`.

A new article joins the story of its most similar earlier article (ties: the smaller story
id); with none it starts its own story, whose id is its fingerprint. Stories never merge
afterwards, so a story id once given stays. `group` runs that rule in memory (tests, the
bench); `core.storage.stories` runs it against Postgres across runs and workers.
"""

from __future__ import annotations

import functools
import hashlib
import re
import struct
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

import numpy as np

NUM_PERM = 128
THRESHOLD = 0.5  # estimated Jaccard of the shingle sets at or above which two are one story
SHINGLE = 5  # characters per shingle (spaces included, so word boundaries count)
LEAD_CHARS = 300
# Only articles published this close are candidates: republications follow within hours,
# while templated market notes ("X shares jump 3% ...") repeat with other figures on other days.
WINDOW = timedelta(days=1)
SEED = 1  # datasketch's permutations: stored signatures depend on them, never change these
SCHEME = "affine32"


@functools.cache
def lsh_shape() -> tuple[int, int]:
    """datasketch's bands x rows for THRESHOLD (false positives and negatives weighted
    equally). datasketch is imported on first use, not with this module: it loads scipy,
    about a second of CPU in every job driver and Ray task worker that imports the
    collection code, most of which never make a signature (price backfills)."""
    from datasketch import MinHashLSH

    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
    return lsh.b, lsh.r


def __getattr__(name: str) -> int:
    """`BANDS` and `ROWS`: `lsh_shape()` as module constants."""
    if name in ("BANDS", "ROWS"):
        return lsh_shape()[name == "ROWS"]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_PREFIXES = [
    # Reuters' slugs: "UPDATE 2-", "REFILE-", "EXCLUSIVE-", "BRIEF-", several in a row.
    r"(?:(?:update|refile|corrected|exclusive|brief|analysis|wrapup|insight|factbox|"
    r"breakingviews|column|rpt)(?:\s*\d+)?\s*[-:]\s*)+",
    r"\[[^\]]{1,12}\]\s*",  # [속보] [단독] [종합] [공시] [Update]
    r"\((?:reuters|ap|afp|bloomberg|yonhap|[^)]{0,20}=[^)]{0,20})\)\s*[-–—]?\s*",  # (서울=연합뉴스)
    # A dateline: "SEOUL, Oct 31 (Reuters) -"
    r"[a-z .,]{0,40}\d{1,2}\s*\((?:reuters|ap|afp|bloomberg)\)\s*[-–—]\s*",
]
_PREFIX = re.compile("^(?:" + "|".join(_PREFIXES) + ")+")
# " - Yahoo Finance", " | Reuters", " — CNBC": a short trailing outlet name after a dash or bar.
_SUFFIX = re.compile(r"\s+[-|–—]\s+[^-|–—]{1,30}$")
_TICKER = re.compile(r"\s*\((?:nasdaq:|nyse:)?[a-z.]{1,6}\)$")  # "(GOOGL)" after a title
_WORDS = {"bln": "billion", "mln": "million", "trln": "trillion", "elec": "electronics"}
_PUNCT = re.compile(r"[^\w%$]+")
_FIGURES = re.compile(r"\d+(?:[.,]\d+)?(?=\s*%)")
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class Signature:
    """An article's MinHash (`NUM_PERM` 32-bit values) and its LSH band hashes."""

    language: str
    hashvalues: np.ndarray
    figures: frozenset[str] = frozenset()  # the title's percentages ("3.5%")

    @property
    def bands(self) -> list[int]:
        """One signed 64-bit hash per band (what Postgres indexes as bigint)."""
        out = []
        bands, rows = lsh_shape()
        for b in range(bands):
            chunk = self.hashvalues[b * rows : (b + 1) * rows].astype("<u4").tobytes()
            digest = hashlib.blake2b(chunk, digest_size=8).digest()
            out.append(struct.unpack("<q", digest)[0])
        return out

    def to_bytes(self) -> bytes:
        """The hash values as stored (4 bytes each, little-endian)."""
        return self.hashvalues.astype("<u4").tobytes()

    @classmethod
    def from_bytes(cls, language: str, data: bytes, figures: Iterable[str] = ()) -> Signature:
        """A stored signature back."""
        return cls(language, np.frombuffer(data, dtype="<u4").astype(np.uint64), frozenset(figures))

    def similarity(self, other: Signature) -> float:
        """The estimated Jaccard similarity of the two shingle sets; 0 across languages, and
        when both titles give percentages but none in common ("shares jump 5.7%" is not the
        same report as "shares jump 7.7%", whatever the other words)."""
        if other.language != self.language:
            return 0.0
        if self.figures and other.figures and self.figures.isdisjoint(other.figures):
            return 0.0
        return float(np.count_nonzero(self.hashvalues == other.hashvalues)) / NUM_PERM


def normalise(title: str, lead: str | None = None) -> str:
    """Title and lead as compared: casefolded words and numbers, without agency prefixes,
    datelines, portal suffixes or punctuation."""
    head = unicodedata.normalize("NFKC", title).casefold().strip()
    head = _PREFIX.sub("", head)
    for _ in range(2):  # "... (GOOGL) - Yahoo Finance"
        head = _TICKER.sub("", _SUFFIX.sub("", head))
    body = unicodedata.normalize("NFKC", lead or "").casefold().strip()
    body = _PREFIX.sub("", body)[:LEAD_CHARS]
    words = _PUNCT.sub(" ", f"{head} {body}").split()
    return " ".join(_WORDS.get(w, w) for w in words)


def shingles(text: str) -> set[bytes]:
    """The character `SHINGLE`-grams of a normalised text (the text itself when shorter)."""
    if len(text) <= SHINGLE:
        return {text.encode("utf-8")} if text else set()
    return {text[i : i + SHINGLE].encode("utf-8") for i in range(len(text) - SHINGLE + 1)}


def signature(title: str, lead: str | None, language: str) -> Signature:
    """The MinHash signature of an article's normalised title and lead."""
    from datasketch import MinHash

    m = MinHash(num_perm=NUM_PERM, seed=SEED, scheme=SCHEME)
    m.update_batch(list(shingles(normalise(title, lead))))
    figures = _FIGURES.findall(unicodedata.normalize("NFKC", title))
    return Signature(language, m.hashvalues.copy(), frozenset(f.replace(",", ".") for f in figures))


@dataclass(frozen=True, slots=True)
class Candidate:
    """An earlier article that shares a band with a new one: its signature and story."""

    fingerprint: str
    signature: Signature
    story_id: str
    published_at: datetime | None = None
    instruments: frozenset[str] = frozenset()


def choose_story(
    fingerprint: str,
    sig: Signature,
    candidates: Iterable[Candidate],
    at: datetime | None = None,
    instruments: frozenset[str] = frozenset(),
) -> str:
    """The story of the most similar candidate published within `WINDOW` of `at`, about one
    of the same `instruments` (when both know theirs) and at or above `THRESHOLD` (ties: the
    smaller story id), else a new story named by `fingerprint`."""
    best: tuple[float, str] | None = None
    for c in candidates:
        if not _near(at, c.published_at) or not _related(instruments, c.instruments):
            continue
        s = sig.similarity(c.signature)
        if s >= THRESHOLD and (best is None or (-s, c.story_id) < (-best[0], best[1])):
            best = (s, c.story_id)
    return best[1] if best else fingerprint


@dataclass(frozen=True, slots=True)
class Item:
    """An article as grouping sees it."""

    key: str
    title: str
    lead: str | None
    language: str
    published_at: datetime | None = None  # None: always within `WINDOW` of the others
    instruments: frozenset[str] = frozenset()  # empty: related to any


def group(items: Sequence[Item]) -> dict[str, str]:
    """Story ids for `items` taken in order (earlier first), as the database path assigns
    them (candidates within `WINDOW`): key → story id (the key of the story's first item)."""
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
    seen: dict[str, Candidate] = {}
    out: dict[str, str] = {}
    for item in items:
        sig = signature(item.title, item.lead, item.language)
        m = MinHash(num_perm=NUM_PERM, seed=SEED, hashvalues=sig.hashvalues, scheme=SCHEME)
        found = [seen[k] for k in lsh.query(m)]
        out[item.key] = choose_story(item.key, sig, found, item.published_at, item.instruments)
        seen[item.key] = Candidate(
            item.key, sig, out[item.key], item.published_at, item.instruments
        )
        lsh.insert(item.key, m)
    return out


def _near(a: datetime | None, b: datetime | None) -> bool:
    return a is None or b is None or abs(a - b) <= WINDOW


def _related(a: frozenset[str], b: frozenset[str]) -> bool:
    return not a or not b or not a.isdisjoint(b)


def pair_scores(truth: dict[str, str], predicted: dict[str, str]) -> tuple[float, float]:
    """Pairwise precision and recall of a grouping: of the pairs put in one story, how many
    are one story in `truth`; of the pairs one story in `truth`, how many were put together."""
    keys = sorted(truth)
    same_true = same_pred = both = 0
    for i, a in enumerate(keys):
        for b in keys[i + 1 :]:
            t, p = truth[a] == truth[b], predicted[a] == predicted[b]
            same_true, same_pred, both = same_true + t, same_pred + p, both + (t and p)
    precision = both / same_pred if same_pred else 1.0
    recall = both / same_true if same_true else 1.0
    return precision, recall


def one_per_story(verdicts: Sequence[V]) -> list[V]:
    """One verdict per story, in the order of each story's first appearance: its earliest
    article's, with the mean sentiment of the story's articles, their highest relevance and
    `sources` = how many there are. Verdicts need `story_id` (None: their own story),
    `fingerprint`, `published_at`, `sentiment`, `relevance` and `sources`."""
    stories: dict[str, list[Any]] = {}
    for v in verdicts:
        stories.setdefault(getattr(v, "story_id", None) or v.fingerprint, []).append(v)
    out = []
    for members in stories.values():
        if len(members) == 1:
            out.append(members[0])
            continue
        first = min(members, key=lambda v: (v.published_at, v.fingerprint))
        rel = [v.relevance for v in members if v.relevance is not None]
        out.append(
            replace(
                first,
                sentiment=sum(v.sentiment for v in members) / len(members),
                relevance=max(rel) if rel else None,
                sources=sum(v.sources for v in members),
            )
        )
    return out

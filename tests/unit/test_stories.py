"""Story grouping (core.stories) on the hand-written variants set, and its parts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bench._stories import load_variants, sim_items
from core import stories
from core.stories import Item, group, normalise, one_per_story, pair_scores, signature
from sim.world import SimWorld

PRECISION_FLOOR = 0.95  # one known miss: a same-template pair of two companies (README)
RECALL_FLOOR = 0.95


def test_the_set_is_as_large_as_promised() -> None:
    items, truth = load_variants()
    groups = {t for k, t in truth.items() if t != k}
    assert len(groups) >= 30 and len(set(truth.values()) - groups) >= 30
    assert {i.language for i in items} == {"en", "ko"}


def test_precision_and_recall_on_the_variants_set() -> None:
    items, truth = load_variants()
    precision, recall = pair_scores(truth, group(items))
    assert precision >= PRECISION_FLOOR, precision
    assert recall >= RECALL_FLOOR, recall


def test_agency_prefixes_suffixes_and_punctuation_are_removed() -> None:
    plain = normalise("Tesla recalls 120,000 vehicles", None)
    assert plain == "tesla recalls 120 000 vehicles"
    for variant in (
        "UPDATE 1-Tesla recalls 120,000 vehicles",
        "(Reuters) - Tesla recalls 120,000 vehicles",
        "Tesla recalls 120,000 vehicles - Yahoo Finance",
        "Tesla recalls 120,000 vehicles | Reuters",
        "REFILE-UPDATE 2-Tesla recalls 120,000 vehicles (TSLA)",
    ):
        assert normalise(variant, None) == plain, variant
    assert normalise("[속보] 삼성전자, 자사주 매입", None) == "삼성전자 자사주 매입"
    assert normalise("x", "SEOUL, Oct 31 (Reuters) - Samsung said") == "x samsung said"
    assert normalise("Intel to build $20 bln plant", None) == "intel to build $20 billion plant"


def test_a_translation_is_never_the_same_story() -> None:
    ko = signature("삼성전자, 3분기 영업이익 2.4조원", "삼성전자는 3분기 영업이익이", "ko")
    en = signature("삼성전자, 3분기 영업이익 2.4조원", "삼성전자는 3분기 영업이익이", "en")
    assert ko.similarity(ko) == 1.0 and ko.similarity(en) == 0.0


def test_signatures_survive_storage_and_bands_are_stable() -> None:
    sig = signature("Apple beats estimates", "Apple Inc on Thursday reported", "en")
    back = stories.Signature.from_bytes("en", sig.to_bytes())
    assert back.similarity(sig) == 1.0 and back.bands == sig.bands
    assert len(sig.bands) == stories.BANDS and len(sig.to_bytes()) == 4 * stories.NUM_PERM
    again = signature("Apple beats estimates", "Apple Inc on Thursday reported", "en")
    assert again.bands == sig.bands  # the same text, the same bands in any process


def test_the_first_article_names_the_story_and_later_ones_join() -> None:
    a = Item("b-first", "Netflix adds 8.8 million subscribers", "Netflix added 8.8 million", "en")
    b = Item("a-later", "UPDATE 1-Netflix adds 8.8 million subscribers", a.lead, "en")
    c = Item("c-other", "Disney to raise streaming prices", "Walt Disney will raise", "en")
    assert group([a, b, c]) == {"b-first": "b-first", "a-later": "b-first", "c-other": "c-other"}


@dataclass(frozen=True)
class V:
    fingerprint: str
    story_id: str | None
    published_at: datetime
    sentiment: float
    relevance: float | None
    sources: int = 1


def test_one_verdict_per_story_with_the_mean_and_the_sources() -> None:
    t = [datetime(2026, 1, d, tzinfo=UTC) for d in (1, 2, 3)]
    vs = [
        V("x2", "x1", t[1], 0.2, 0.5),
        V("y", None, t[2], -0.4, None),
        V("x1", "x1", t[0], 0.6, 0.9),
    ]
    out = one_per_story(vs)
    assert [v.fingerprint for v in out] == ["x1", "y"]
    assert out[0].sources == 2 and abs(out[0].sentiment - 0.4) < 1e-9 and out[0].relevance == 0.9
    assert out[1] is vs[1]
    assert one_per_story(out) == out  # collapsing twice changes nothing


def test_the_sims_republications_join_their_originals() -> None:
    world = SimWorld.build(7)
    insts = [i for i in world.universe.instruments if not i.synthetic]
    start = datetime(2026, 1, 5, tzinfo=UTC)
    found = world.news.window(insts, start, start + timedelta(days=21))
    items, truth = sim_items([s.truth() for s in found])
    assert sum(1 for k, t in truth.items() if k != t) >= 10  # the sim republishes
    predicted = group(items)
    republished = [k for k, t in truth.items() if k != t]
    joined = sum(predicted[k] == predicted[truth[k]] for k in republished)
    assert joined / len(republished) >= RECALL_FLOOR


def test_titles_with_other_percentages_are_other_reports() -> None:
    lead = "Investors cheered the news, sending the stock higher in early trading."
    jump = signature("Apple shares jump 5.7% after earnings beat estimates", lead, "en")
    other = signature("Apple shares jump 7.7% after earnings beat estimates", lead, "en")
    update = signature(
        "UPDATE 1-Apple shares jump 5.7% after earnings beat; up 1% later", lead, "en"
    )
    assert jump.figures == {"5.7"} and jump.similarity(other) == 0.0
    assert jump.similarity(update) >= stories.THRESHOLD  # one percentage in common
    back = stories.Signature.from_bytes("en", jump.to_bytes(), ["5.7"])
    assert back.similarity(other) == 0.0 and back.similarity(jump) == 1.0

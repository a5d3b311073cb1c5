"""The vendored sentiment sets load, and the tune/test split is deterministic and disjoint."""

from __future__ import annotations

from bench._lexicon_eval import LABELS, load_sets, metrics, split_of

SETS = {
    "semeval2017_headlines",
    "fiqa2018_headlines",
    "fiqa2018_posts",
    "twitter_financial_news",
    "ko_headlines_handmade",
}


def test_sets_load_with_known_labels() -> None:
    rows = load_sets()
    assert {row.set_name for row in rows} == SETS
    assert all(row.text.strip() and row.label in LABELS for row in rows)
    for name in SETS:
        assert {row.label for row in rows if row.set_name == name} == set(LABELS), name


def test_split_is_disjoint_deterministic_and_covers_every_row() -> None:
    tune, test = load_sets("tune"), load_sets("test")
    assert len(tune) + len(test) == len(load_sets())
    assert {r.text for r in tune}.isdisjoint({r.text for r in test})
    assert load_sets("test") == test
    assert 0.4 < len(test) / (len(tune) + len(test)) < 0.6
    for name in SETS:
        assert any(r.set_name == name for r in test) and any(r.set_name == name for r in tune)


def test_split_depends_on_the_text_alone() -> None:
    text = "Barclays share price subdued as bank faces fresh forex probe"
    assert split_of(text) == split_of(f"  {text.upper()} ") in ("tune", "test")


def test_metrics() -> None:
    pairs = [("positive", "positive"), ("neutral", "negative"), ("negative", "negative")]
    figures = metrics(pairs)
    assert figures["accuracy"] == round(2 / 3, 4)
    # F1: positive 1, negative 2/3, neutral 0
    assert figures["macro_f1"] == round((1 + 2 / 3 + 0) / 3, 4)

"""Story grouping figures for `bench.analysis`: pairwise precision and recall of
`core.stories.group` on the hand-written variants set (tests/unit/data/story_variants.yaml)
and on the sim's own stories, whose republications (`sim.news.REPUBLISH_RATE`) name the
story they republish."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from core.stories import Item, group, pair_scores

VARIANTS = Path(__file__).resolve().parent.parent / "tests/unit/data/story_variants.yaml"


def load_variants(path: Path = VARIANTS) -> tuple[list[Item], dict[str, str]]:
    """The set's items (the groups' variants first, in order) and their true story per key."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    items, truth = [], {}
    for kind, name, members in (("groups", "id", "variants"), ("distinct", "set", "items")):
        for entry in data[kind]:
            for i, v in enumerate(entry[members]):
                key = f"{entry[name]}.{i}"
                items.append(Item(key, v["title"], v["lead"], v["lang"]))
                truth[key] = entry[name] if kind == "groups" else key
    return items, truth


def sim_items(stories: list[dict[str, Any]]) -> tuple[list[Item], dict[str, str]]:
    """The sim's truth stories as items (oldest first) and their true story (the original
    of a republication)."""
    ordered = sorted(stories, key=lambda s: (s["published_at"], s["id"]))
    items = [
        Item(s["id"], s["title"], s.get("description"), s["language"],
             datetime.fromisoformat(s["published_at"].replace("Z", "+00:00")),
             frozenset(s["tickers"]))
        for s in ordered
    ]  # fmt: skip
    return items, {s["id"]: s.get("republishes") or s["id"] for s in ordered}


def story_figures(sim_stories: list[dict[str, Any]]) -> dict[str, Any]:
    """story_precision / story_recall on the variants set, and the same on the sim."""
    items, truth = load_variants()
    precision, recall = pair_scores(truth, group(items))
    sim, sim_truth = sim_items(sim_stories)
    sim_precision, sim_recall = pair_scores(sim_truth, group(sim))
    return {
        "story_precision": round(precision, 4),
        "story_recall": round(recall, 4),
        "story_set_items": len(items),
        "story_sim_precision": round(sim_precision, 4),
        "story_sim_recall": round(sim_recall, 4),
        "story_sim_items": len(sim),
        "story_sim_republished": sum(1 for k, t in sim_truth.items() if k != t),
    }

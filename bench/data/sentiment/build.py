"""Rebuild the vendored sentiment sets from local mirrors of their source repositories.

Run once by hand (`python bench/data/sentiment/build.py MIRRORS_DIR`); the JSONL files it
writes are committed, so the benchmark never needs the mirrors. README.md names the sources.
"""

from __future__ import annotations

import csv
import io
import json
import random
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
NEUTRAL_BELOW = 0.1  # |mean score| under this is neutral (SemEval and FiQA scores are in [-1, 1])
TWEETS_SAMPLE = 2000
SEED = 13
TWEET_LABELS = {"0": "negative", "1": "positive", "2": "neutral"}  # Bearish, Bullish, Neutral


def git_show(mirrors: Path, repo: str, commit: str, path: str) -> str:
    """One file of a mirrored repository at a commit."""
    git_dir = mirrors / repo.replace("/", "+") / "repo"
    out = subprocess.check_output(["git", "-C", str(git_dir), "show", f"{commit}:{path}"])
    return out.decode("utf-8")


def norm(text: str) -> str:
    """The key texts are deduplicated (and split) by."""
    return " ".join(text.lower().split())


def label_of(score: float) -> str:
    """A continuous score in [-1, 1] as a label, by NEUTRAL_BELOW."""
    if abs(score) < NEUTRAL_BELOW:
        return "neutral"
    return "positive" if score > 0 else "negative"


def by_sentence(pairs: list[tuple[str, float]]) -> list[dict]:
    """One row per distinct sentence: the mean of its targets' scores; mixed sentences dropped."""
    scores: dict[str, list[float]] = {}
    texts: dict[str, str] = {}
    for text, score in pairs:
        key = norm(text)
        texts.setdefault(key, " ".join(text.split()))
        scores.setdefault(key, []).append(score)
    rows = []
    for key, values in scores.items():
        labels = {label_of(v) for v in values} - {"neutral"}
        if len(labels) > 1:  # one target up, another down: no sentence-level label
            continue
        mean = sum(values) / len(values)
        rows.append({"text": texts[key], "label": label_of(mean), "score": round(mean, 3)})
    return rows


def semeval(mirrors: Path) -> list[dict]:
    raw = git_show(
        mirrors,
        "cwayad/companySentimentAnalysis",
        "6b19989e16390575a745063f74763520dc22fd84",
        "data/Headline_Trainingdata.json",
    )
    return by_sentence([(x["title"], float(x["sentiment"])) for x in json.loads(raw)])


def fiqa(mirrors: Path, path: str) -> list[dict]:
    raw = git_show(mirrors, "AlexYangLi/ALA", "7a25811a9ef7d28b09d99b21593a71893c88fcda", path)
    data = json.loads(raw)
    pairs = [(v["sentence"], float(i["sentiment_score"])) for v in data.values() for i in v["info"]]
    return by_sentence(pairs)


def tweets(mirrors: Path) -> list[dict]:
    raw = git_show(
        mirrors,
        "umaima-aman/Twee_Sentiment_Analysis-DeepLearning",
        "a313e15137569549fd5e86b27c88e1945bf88168",
        "sent_valid.csv",
    )
    seen, rows = set(), []
    for r in csv.DictReader(io.StringIO(raw)):
        text = " ".join(r["text"].split())
        if norm(text) not in seen:
            seen.add(norm(text))
            rows.append({"text": text, "label": TWEET_LABELS[r["label"]]})
    return random.Random(SEED).sample(rows, min(TWEETS_SAMPLE, len(rows)))


def write(name: str, rows: list[dict]) -> None:
    with (HERE / f"{name}.jsonl").open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(name, len(rows))


def main(mirrors: Path) -> None:
    headlines = semeval(mirrors)
    seen = {norm(r["text"]) for r in headlines}
    fiqa_headlines = fiqa(mirrors, "raw_data/task1_headline_ABSA_train.json")
    fiqa_headlines = [r for r in fiqa_headlines if norm(r["text"]) not in seen]
    write("semeval2017_headlines", headlines)
    write("fiqa2018_headlines", fiqa_headlines)
    write("fiqa2018_posts", fiqa(mirrors, "raw_data/task1_post_ABSA_train.json"))
    write("twitter_financial_news", tweets(mirrors))


if __name__ == "__main__":
    main(Path(sys.argv[1]))

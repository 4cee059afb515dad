"""The summarizer's commands as a user runs them: a subprocess on a real store with the real models."""

from __future__ import annotations

import json
import os
from pathlib import Path

from monitor.store import Store
from tests.conftest import ROOT
from tests.guarded_run import veille
from tests.summarizer.test_pipeline import SET, load_set


def test_summarize_stories_digest_and_eval(sqlite_url: str, tmp_path: Path) -> None:
    rows = [json.loads(line) for line in SET.read_text().splitlines() if line.strip()]
    with Store.open(sqlite_url) as store:
        gold = load_set(store, rows)
    env = dict(os.environ, DATABASE_URL=sqlite_url, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", COLUMNS="200")

    done = veille(["summarize"], env, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"{len(gold)} articles processed" in done.stdout

    listed = veille(["stories", "list", "--since", "36500d", "--limit", "100", "--json"], env, tmp_path)
    assert listed.returncode == 0, listed.stderr[-2000:]
    stories = [json.loads(line) for line in listed.stdout.splitlines()]
    # about one story per event of the set (quality floors live in test_pipeline and test_clustering: with the
    # defaults, two late Arabic follow-ups start stories of their own)
    events = len(set(gold.values()))
    assert events <= len(stories) <= events + 3 and all(s["headline"] for s in stories)
    assert sum(s["sources"] >= 3 for s in stories) >= events - 2

    shown = veille(["stories", "show", stories[0]["id"], "--json"], env, tmp_path)
    assert shown.returncode == 0, shown.stderr[-2000:]
    story = json.loads(shown.stdout)
    assert story["id"] == stories[0]["id"] and len(story["members"]) == stories[0]["articles"]
    missing = veille(["stories", "show", "s-nope"], env, tmp_path)
    assert missing.returncode == 2 and "no story" in missing.stderr
    ids = [s["id"] for s in stories]
    prefix = next(
        i[:n] for i in ids for n in range(1, len(i) + 1) if sum(x.startswith(i[:n]) for x in ids) == 1
    )
    by_prefix = veille(["stories", "show", prefix, "--lang", "fr"], env, tmp_path)
    assert by_prefix.returncode == 0, by_prefix.stderr[-2000:]
    common = veille(["stories", "show", ids[0][:1]], env, tmp_path)  # every id starts alike: ambiguous
    assert common.returncode == 2 and "several stories start with" in common.stderr
    table = veille(["stories", "list", "--since", "36500d", "--lang", "de"], env, tmp_path)
    assert table.returncode == 0 and all(i in table.stdout for i in ids[:5])  # full ids, never cut
    klingon = veille(["stories", "list", "--lang", "xx"], env, tmp_path)
    assert klingon.returncode == 2 and "not a language code" in klingon.stderr

    digest = veille(["digest", "--since", "36500d", "--filter", "entity:isis", "--json"], env, tmp_path)
    assert digest.returncode == 0, digest.stderr[-2000:]
    picked = json.loads(digest.stdout)["stories"]
    assert picked and all("isis" in s["entities"] for s in picked)
    assert "frozenset" not in digest.stdout and all(isinstance(s["tags"], list) for s in picked)  # no reprs
    assert [s["importance"] for s in picked] == sorted((s["importance"] for s in picked), reverse=True)

    fr = veille(["digest", "--since", "36500d", "--lang", "fr", "--json"], env, tmp_path)
    assert fr.returncode == 0, fr.stderr[-2000:]
    told_in_fr = [s for s in json.loads(fr.stdout)["stories"] if "fr" in s["languages"]]
    bad = [
        (s["headline"], [x["lang"] for x in s["sentences"]])
        for s in told_in_fr
        if not any(x["lang"] == "fr" for x in s["sentences"])
    ]
    assert told_in_fr and not bad, bad
    assert len(json.loads(fr.stdout)["stories"]) == len(
        stories
    )  # --lang: the reader's language, not a filter
    text = veille(["digest", "--since", "36500d"], env, tmp_path)
    assert text.returncode == 0 and "veille digest" in text.stdout

    scores = veille(["eval", "clustering", str(SET), "--json"], env, tmp_path)
    assert scores.returncode == 0, scores.stderr[-2000:]
    result = json.loads(scores.stdout)
    assert result["veille"]["bcubed"]["f1"] > result["dense_baseline"]["bcubed"]["f1"]
    assert result["veille"]["bcubed"]["f1"] > result["tfidf_baseline"]["bcubed"]["f1"]
    assert result["cross_language"]["recall"] >= 0.85 and sum(result["sizes"].values()) >= 15
    explained = veille(
        ["eval", "clustering", str(SET), "--explain", "--pred-out", str(tmp_path / "p.jsonl")], env, tmp_path
    )
    assert explained.returncode == 0, explained.stderr[-2000:]
    assert "cross-language pairs" in explained.stdout and "TF-IDF centroid baseline" in explained.stdout
    predictions = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert len(predictions) == 70 and {"id", "story", "predicted", "lang"} <= predictions[0].keys()
    bad_model = tmp_path / "model.json"
    bad_model.write_text('{"format": "something else"}')
    refused = veille(["eval", "clustering", str(SET), "--model", str(bad_model)], env, tmp_path)
    assert refused.returncode == 2 and "not a veille clustering model" in refused.stderr

    wrong = veille(["digest", "--since", "soon"], env, tmp_path)
    assert wrong.returncode == 2 and "--since" in wrong.stderr

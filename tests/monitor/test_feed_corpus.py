"""Every feed of the shared corpora goes through parse_feed: ParseError is the only failure allowed.

feedparser's own test corpus (2,107 files: well-formed, ill-formed, encodings, entities, JSON) and 35 real
feeds (31 from rss-parser's tests and 4 from its history). For the real feeds the item counts must match
what feedparser 6.0.14 itself returns (feedparser-6.0.14-baseline.tsv).
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from pathlib import Path

import pytest

from monitor import feed
from monitor.errors import ParseError
from monitor.feed import parse_feed
from monitor.models import ParsedFeed
from tests.conftest import SHARED_DATA, shared_data

CONTENT_TYPES = {
    ".json": "application/feed+json",
    ".atom": "application/atom+xml",
    ".rss": "application/rss+xml",
    ".rdf": "application/rdf+xml",
}
_HEADER_LINE = re.compile(rb"^Header:\s*([\w-]+):[ \t]*(.*?)\s*$", re.MULTILINE)


def headers_for(path: Path, body: bytes) -> dict[str, str]:
    """A content type guessed from the extension, overridden by the corpus file's own ``Header:`` lines."""
    headers = {"content-type": CONTENT_TYPES.get(path.suffix, "application/xml")}
    comment_end = body.find(b"-->")
    for name, value in _HEADER_LINE.findall(body[: max(comment_end, 0)]):
        headers[name.decode().lower()] = value.decode("latin-1")
    return headers


def parse_file(path: Path) -> ParsedFeed | ParseError:
    body = path.read_bytes()
    try:
        return parse_feed(body, headers_for(path, body), f"http://example.test/{path.name}")
    except ParseError as exc:
        return exc


def _tally(results: list[ParsedFeed | ParseError]) -> Counter[str]:
    tally: Counter[str] = Counter()
    for result in results:
        if isinstance(result, ParseError):
            tally[f"error:{result.kind}"] += 1
        else:
            tally["items" if result.items else "empty"] += 1
    return tally


def test_feedparser_corpus() -> None:
    files = sorted(p for p in shared_data("feeds", "feedparser-corpus", "tests").rglob("*") if p.is_file())
    assert len(files) >= 2000
    results = [parse_file(path) for path in files]
    tally = _tally(results)
    print(
        f"\nfeedparser corpus: {len(files)} files; " + ", ".join(f"{k} {v}" for k, v in sorted(tally.items()))
    )
    assert tally["items"] > 1000  # well-formed feeds with entries are most of the corpus
    assert tally["error:blocked"] == 0


def _baseline() -> list[dict[str, str]]:
    """The baseline rows; none when the shared data is absent (the parametrized test is then skipped)."""
    path = SHARED_DATA / "feeds" / "real-world" / "feedparser-6.0.14-baseline.tsv"
    if not path.exists():
        return []
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


@pytest.mark.parametrize("row", _baseline(), ids=lambda row: row["file"])
def test_real_world_feed_matches_feedparser_baseline(row: dict[str, str]) -> None:
    result = parse_file(shared_data("feeds", "real-world", row["file"]))
    expected = int(row["entries"])
    if isinstance(result, ParseError):
        assert expected == 0, f"{row['file']}: {result}"
        return
    assert len(result.items) == expected
    assert result.format == (row["version"] or "unknown")
    assert all(item.link is None or item.link.startswith(("http://", "https://")) for item in result.items)


def test_real_world_tally() -> None:
    files = sorted(p for p in shared_data("feeds", "real-world").glob("input*/*") if p.is_file())
    assert len(files) == len(_baseline()) == 35
    tally = _tally([parse_file(path) for path in files])
    print(
        f"\nreal-world feeds: {len(files)} files; " + ", ".join(f"{k} {v}" for k, v in sorted(tally.items()))
    )
    assert tally["items"] == len(files) - 1  # unrecognized.rss is an HTML "Document Moved" page


def _outcome(path: Path) -> ParsedFeed | tuple[str, str]:
    result = parse_file(path)
    return (result.kind, result.message) if isinstance(result, ParseError) else result


def test_telling_feedparser_the_url_only_when_needed_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every corpus file gives the same ParsedFeed as when feedparser is always told the feed's URL."""
    files = sorted(p for p in shared_data("feeds").rglob("*") if p.is_file())
    untold = sum(not feed._relative_references(_defused(p))[0] for p in files)
    outcomes = [_outcome(path) for path in files]
    monkeypatch.setattr(feed, "_relative_references", lambda data: (True, False))
    always_told = [_outcome(path) for path in files]
    mismatched = [path.name for path, a, b in zip(files, outcomes, always_told, strict=True) if a != b]
    assert mismatched == []
    assert untold > 1500  # most feeds have nothing relative: both paths are compared


def _defused(path: Path) -> bytes:
    try:
        return feed.defuse_doctype(path.read_bytes())[0]
    except ParseError:
        return b""

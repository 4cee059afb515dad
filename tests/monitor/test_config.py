"""sources.yaml and settings validation: values, errors with file:line and a fix, the shipped source list."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from monitor.config import (
    Duration,
    SourceConfig,
    format_duration,
    load_sources,
    page_selectors,
    parse_duration,
)
from monitor.errors import ConfigError
from monitor.settings import MonitorSettings, env_var, settings_from_env
from monitor.validation import ConfigErrors

ROOT = Path(__file__).resolve().parents[2]

# Five lines; a key appended to it lands on line 6.
BASE = """\
sources:
  - id: s1
    name: Source one
    kind: feed
    url: https://example.org/feed.xml
"""


def _with(snippet: str) -> tuple[str, int]:
    """BASE with ``snippet`` replacing the line of the same key, or appended; and the line it is on."""
    lines = BASE.splitlines()
    key = snippet.split(":")[0].strip()
    for number, line in enumerate(lines, 1):
        if line.strip().removeprefix("- ").startswith(f"{key}:"):
            indent = line[: len(line) - len(line.lstrip())] + ("- " if line.strip().startswith("- ") else "")
            lines[number - 1] = indent + snippet
            return "\n".join(lines) + "\n", number
    return BASE + f"    {snippet}\n", len(lines) + 1


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _load(tmp_path: Path, text: str) -> list[SourceConfig]:
    return load_sources(_write(tmp_path, text))


def _problems(tmp_path: Path, text: str) -> list[ConfigError]:
    with pytest.raises(ConfigErrors) as info:
        _load(tmp_path, text)
    return list(info.value.errors)


def _one_problem(tmp_path: Path, text: str) -> ConfigError:
    problems = _problems(tmp_path, text)
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


DURATION = TypeAdapter(Duration)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        pytest.param("90s", 90, id="seconds"),
        pytest.param("30m", 1800, id="minutes"),
        pytest.param("2h", 7200, id="hours"),
        pytest.param("1d", 86400, id="days"),
        pytest.param("1h30m", 5400, id="hours-minutes"),
        pytest.param("1d 2h 3m 4s", 93784, id="all-units-spaced"),
        pytest.param("2H", 7200, id="upper-case"),
        pytest.param(90, 90, id="int-seconds"),
        pytest.param(2.5, 2.5, id="float-seconds"),
        pytest.param("600", 600, id="digit-string"),
        pytest.param(timedelta(minutes=5), 300, id="timedelta"),
    ],
)
def test_duration_accepts(value: object, seconds: float) -> None:
    assert DURATION.validate_python(value) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param("5 mins", "is not a duration", id="words"),
        pytest.param("", "is not a duration", id="empty"),
        pytest.param("1x", "is not a duration", id="unknown-unit"),
        pytest.param("m", "is not a duration", id="unit-without-number"),
        pytest.param("30m2h", "is not a duration", id="units-out-of-order"),
        pytest.param(0, "not a positive duration", id="zero"),
        pytest.param("0s", "not a positive duration", id="zero-with-unit"),
        pytest.param(-60, "not a positive duration", id="negative"),
        pytest.param(True, "is not a duration", id="bool"),
        pytest.param(None, "is not a duration", id="none"),
        pytest.param([30], "is not a duration", id="list"),
    ],
)
def test_duration_rejects(value: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as info:
        DURATION.validate_python(value)
    assert "90s, 30m, 2h, 1d" in str(info.value.errors()[0]["ctx"]["hint"])


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("1h30m", timedelta(minutes=90), id="valid"),
        pytest.param("soon", "'soon' is not a duration (use a number of seconds or 90s", id="invalid"),
        pytest.param("-1", "is not a duration", id="negative-text"),
        pytest.param(0, "0 is not a positive duration", id="zero"),
    ],
)
def test_parse_duration_for_the_cli(value: object, expected: timedelta | str) -> None:
    if isinstance(expected, timedelta):
        assert parse_duration(value) == expected
    else:
        with pytest.raises(ValueError, match=expected.replace("(", r"\(")):
            parse_duration(value)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        pytest.param(5400, "1h30m", id="hours-minutes"),
        pytest.param(86400 + 5, "1d5s", id="day-seconds"),
        pytest.param(0, "0s", id="zero"),
    ],
)
def test_format_duration(seconds: int, text: str) -> None:
    assert format_duration(timedelta(seconds=seconds)) == text
    if seconds:
        assert DURATION.validate_python(text) == timedelta(seconds=seconds)  # round trip


@pytest.mark.parametrize(
    ("snippet", "field", "expected"),
    [
        pytest.param("", "language", "auto", id="language-default"),
        pytest.param("language: fr", "language", "fr", id="language-code"),
        pytest.param("language: FR", "language", "fr", id="language-upper"),
        pytest.param("language: fr-FR", "language", "fr", id="language-region"),
        pytest.param("language: pt_BR", "language", "pt", id="language-underscore"),
        pytest.param("language: 'no'", "language", "no", id="language-quoted-norwegian"),
        pytest.param("", "interval", timedelta(minutes=30), id="interval-default"),
        pytest.param("interval: 1m", "interval", timedelta(minutes=1), id="interval-lower-bound"),
        pytest.param("interval: 7d", "interval", timedelta(days=7), id="interval-upper-bound"),
        pytest.param("tags: [Police, ' eu ']", "tags", ("police", "eu"), id="tags-normalized"),
        pytest.param("tags:\n      - a\n      - b", "tags", ("a", "b"), id="tags-block-list"),
        pytest.param(
            "headers: {Cookie: 'a=b', Accept-Language: fr}",
            "headers",
            {"Cookie": "a=b", "Accept-Language": "fr"},
            id="headers-cookie-allowed",
        ),
        pytest.param("enabled: false", "enabled", False, id="enabled"),
        pytest.param("fulltext: yes", "fulltext", True, id="fulltext-yaml-yes"),
        pytest.param("id: a.b_c-9", "id", "a.b_c-9", id="id-punctuation"),
        pytest.param("url: HTTPS://Example.org/x?y=1", "url", "HTTPS://Example.org/x?y=1", id="url-kept"),
    ],
)
def test_source_values(tmp_path: Path, snippet: str, field: str, expected: object) -> None:
    (source,) = _load(tmp_path, _with(snippet)[0])
    assert getattr(source, field) == expected


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        pytest.param(
            "interval: 5 mins",
            "sources[0].interval: '5 mins' is not a duration (fix: use a number",
            id="bad-duration",
        ),
        pytest.param(
            "interval: 30s",
            "sources[0].interval: 30s is out of bounds (fix: use a duration between",
            id="interval-too-short",
        ),
        pytest.param("interval: 8d", "out of bounds", id="interval-too-long"),
        pytest.param(
            "min_interval: 10s", "sources[0].min_interval: 10s is out of bounds", id="min-too-short"
        ),
        pytest.param(
            "language: xx",
            "'xx' is not an ISO 639-1 language code (fix: use 'auto' or",
            id="unknown-language",
        ),
        pytest.param(
            "language: no",
            "False is not a language code (fix: put the code in quotes",
            id="yaml-norway-problem",
        ),
        pytest.param("language: 12", "12 is not an ISO 639-1", id="language-number"),
        pytest.param(
            "url: ftp://example.org/f", "is not an http(s) URL (fix: write the full address", id="url-scheme"
        ),
        pytest.param("url: /feed.xml", "is not an http(s) URL", id="url-relative"),
        pytest.param("url: https:///feed.xml", "is not an http(s) URL", id="url-no-host"),
        pytest.param("url: https://exa mple.org/", "is not an http(s) URL", id="url-space"),
        pytest.param(
            "id: Europol News",
            "'Europol News' is not a valid id (fix: use lower-case letters",
            id="id-not-slug",
        ),
        pytest.param("id: " + "a" * 65, "is not a valid id", id="id-too-long"),
        pytest.param(
            "kind: rss",
            "sources[0].kind: 'rss' is not allowed (fix: use 'feed' or 'page')",
            id="kind-literal",
        ),
        pytest.param(
            "name: ''", "sources[0].name: '': String should have at least 1 character", id="empty-name"
        ),
        pytest.param(
            "tags: police",
            "sources[0].tags: 'police': Input should be a valid tuple (fix: use a list",
            id="tags-not-list",
        ),
        pytest.param("tags: ['a b']", "sources[0].tags[0]: 'a b' is not a tag", id="tag-with-space"),
        pytest.param(
            "headers: {Host: evil.example}",
            "sources[0].headers.Host: header 'Host' cannot be set",
            id="header-host",
        ),
        pytest.param(
            "headers: {content-length: '3'}", "cannot be set per source", id="header-content-length"
        ),
        pytest.param("headers: {'X Bad': v}", "is not a valid header name", id="header-name-space"),
        pytest.param('headers: {X-A: "a\\r\\nEvil: 1"}', "contains a line break", id="header-crlf-injection"),
        pytest.param(
            "headers: {X-A: 2}",
            "Input should be a valid string (fix: write it as text",
            id="header-value-number",
        ),
        pytest.param(
            "enabled: maybe", "sources[0].enabled: 'maybe': Input should be a valid boolean", id="bool"
        ),
        pytest.param(
            "selectors: {item: li}",
            "sources[0] (id=s1): selectors are only for kind: page",
            id="feed-with-selectors",
        ),
        pytest.param(
            "min_interval: 2h\n    max_interval: 1h\n    interval: 1h",
            "sources[0] (id=s1): min_interval is above max_interval (2h > 1h) (fix: swap them)",
            id="min-above-max",
        ),
        pytest.param(
            "min_interval: 2h",
            "sources[0] (id=s1): interval 30m is outside min_interval/max_interval",
            id="interval-below-min",
        ),
    ],
)
def test_bad_value_names_line_and_fix(tmp_path: Path, snippet: str, expected: str) -> None:
    text, line = _with(snippet)
    problem = _one_problem(tmp_path, text)
    assert expected in str(problem)
    assert str(problem).startswith(f"{tmp_path / 'sources.yaml'}:")
    assert problem.line == (2 if "(id=s1)" in expected else line)  # the source's first line, or the value's
    assert problem.hint


@pytest.mark.parametrize(
    ("selectors", "expected"),
    [
        pytest.param(
            "{item: 'div[['}", "sources[0].selectors.item: 'div[[' is not a valid CSS selector", id="syntax"
        ),
        pytest.param(
            "{item: li, date: 'p::attr(x)'}",
            "sources[0].selectors.date: 'p::attr(x)' is not a valid",
            id="pseudo-element",
        ),
        pytest.param(
            "{link: a}",
            "sources[0].selectors: missing key 'item' (fix: add item: <CSS of one entry of the listing>)",
            id="missing-item",
        ),
        pytest.param("{item: li, itme: a}", "unknown key 'itme' (fix: did you mean 'item'?", id="typo"),
    ],
)
def test_page_selector_errors(tmp_path: Path, selectors: str, expected: str) -> None:
    text = BASE.replace("kind: feed", "kind: page") + f"    selectors: {selectors}\n"
    assert expected in str(_one_problem(tmp_path, text))


def test_page_source_needs_selectors(tmp_path: Path) -> None:
    problem = _one_problem(tmp_path, BASE.replace("kind: feed", "kind: page"))
    assert str(problem).startswith(f"{tmp_path / 'sources.yaml'}:2: sources[0] (id=s1): a page source needs")
    assert "add selectors:" in str(problem)


def test_page_selectors_convert_to_the_page_dataclass(tmp_path: Path) -> None:
    from monitor.page import PageSelectors

    text = BASE.replace("kind: feed", "kind: page") + "    selectors: {item: li.news, date: time}\n"
    (page,) = _load(tmp_path, text)
    (feed,) = _load(tmp_path, BASE)
    assert page_selectors(page) == PageSelectors(item="li.news", date="time")
    assert page_selectors(feed) is None


def test_unknown_key_suggests_the_right_one(tmp_path: Path) -> None:
    problem = _one_problem(tmp_path, BASE.replace("s1", "europol-news") + "    intervall: 30m\n")
    text = str(problem)
    assert text.startswith(
        f"{tmp_path / 'sources.yaml'}:6: sources[0] (id=europol-news): unknown key 'intervall'"
    )
    assert "(fix: did you mean 'interval'? allowed keys: id, name, kind, url," in text
    assert problem.line == 6


def test_unknown_key_far_from_any_gets_the_allowed_list(tmp_path: Path) -> None:
    problem = _one_problem(tmp_path, BASE + "    zzzzzz: 1\n")
    assert "did you mean" not in str(problem)
    assert "allowed keys: id, name" in str(problem)


def test_missing_key_points_at_the_source(tmp_path: Path) -> None:
    text = BASE + "  - id: s2\n    kind: feed\n    name: Two\n"
    problem = _one_problem(tmp_path, text)
    assert problem.line == 6
    assert "sources[1] (id=s2): missing key 'url' (fix: add url: <the http(s) address" in str(problem)


def test_every_error_is_reported_at_once_in_file_order(tmp_path: Path) -> None:
    text = """\
version: 1
defaults:
  interval: 5 mins
sources:
  - id: a
    name: A
    kind: feed
    url: https://example.org/a
    intervall: 30m
  - id: Bad Id
    name: B
    kind: rss
    url: ftp://b
  - id: a
    name: C
    name: C2
    kind: page
    url: https://example.org/c
"""
    problems = _problems(tmp_path, text)
    got = [(p.line, p.detail.split(":")[0]) for p in problems]
    assert got == [
        (3, "defaults.interval"),
        (9, "sources[0] (id=a)"),
        (10, "sources[1].id"),
        (12, "sources[1].kind"),
        (13, "sources[1].url"),
        (14, "sources[2].id"),
        (14, "sources[2] (id=a)"),
        (16, "duplicate key 'name' (first at line 15)"),
    ]
    report = str(ConfigErrors(problems))
    assert report.splitlines()[0] == f"{tmp_path / 'sources.yaml'}: 8 problems"
    assert len(report.splitlines()) == 9


def test_duplicate_ids_name_both_lines(tmp_path: Path) -> None:
    text = BASE + "  - id: s1\n    name: Again\n    kind: feed\n    url: https://example.org/2\n"
    problem = _one_problem(tmp_path, text)
    assert problem.line == 6
    assert "sources[1].id: duplicate id 's1' (also at line 2) (fix: give each source its own id)" in str(
        problem
    )


@pytest.mark.parametrize(
    ("text", "line", "expected"),
    [
        pytest.param(
            "sources:\n  - id: a\n\t name: x\n",
            3,
            "tab in the indentation (fix: indent with spaces",
            id="tab",
        ),
        pytest.param("sources: [\n  {id: a\n", 3, "YAML syntax error", id="unclosed-flow"),
        pytest.param("sources:\n  - id: 'a\n", 3, "YAML syntax error", id="unclosed-quote"),
        pytest.param("sources:\n- id: a\n  name: b\n - x\n", 4, "YAML syntax error", id="bad-indent"),
        pytest.param("", 1, "the file is empty (fix: add a 'sources:' list", id="empty"),
        pytest.param("# only a comment\n", 1, "the file is empty", id="only-comments"),
        pytest.param("- id: a\n", 1, "top level: expected key: value lines, got list", id="top-level-list"),
        pytest.param("sources:\n", 1, "sources: None: Input should be a valid list", id="sources-null"),
        pytest.param("sources: []\n", 1, "List should have at least 1 item", id="no-sources"),
        pytest.param("version: 2\n" + BASE, 1, "version: 2 is not allowed (fix: use 1)", id="version"),
        pytest.param(
            "source:\n  - id: a\n",
            1,
            "unknown key 'source' (fix: did you mean 'sources'?",
            id="top-level-typo",
        ),
        pytest.param(
            "sources:\n  - !!python/object:os.system x\n", 2, "unsupported YAML value", id="python-tag"
        ),
        pytest.param(
            "sources:\n  - europol\n",
            2,
            "sources[0]: expected key: value lines, got str",
            id="source-not-mapping",
        ),
        pytest.param(
            "defaults: {intervall: 1h}\n" + BASE, 1, "defaults: unknown key 'intervall'", id="defaults-typo"
        ),
    ],
)
def test_file_level_problems(tmp_path: Path, text: str, line: int, expected: str) -> None:
    problems = _problems(tmp_path, text)
    matching = [p for p in problems if expected in str(p)]
    assert matching, [str(p) for p in problems]
    assert matching[0].line == line
    assert matching[0].hint


def test_missing_file_hints_at_the_option(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_sources(tmp_path / "nope.yaml")
    assert str(info.value) == (
        f"{tmp_path / 'nope.yaml'}: file not found "
        "(fix: create it (veille ships a sources.yaml to start from), or pass --sources PATH)"
    )


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_sources(tmp_path)


def test_not_utf8_gives_the_line(tmp_path: Path) -> None:
    path = tmp_path / "sources.yaml"
    path.write_bytes(BASE.encode() + b"    name: Caf\xe9\n")
    with pytest.raises(ConfigError) as info:
        load_sources(path)
    assert info.value.line == 6
    assert "not UTF-8 text (fix: save the file as UTF-8)" in str(info.value)


def test_utf8_bom_and_str_path_accepted(tmp_path: Path) -> None:
    path = tmp_path / "sources.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + BASE.encode())
    assert [s.id for s in load_sources(str(path))] == ["s1"]


def test_defaults_apply_where_not_set(tmp_path: Path) -> None:
    text = """\
defaults:
  interval: 2h
  tags: [eu]
  language: fr
  headers: {Accept-Language: fr}
sources:
  - {id: a, name: A, kind: feed, url: "https://example.org/a"}
  - {id: b, name: B, kind: feed, url: "https://example.org/b", interval: 15m, tags: [x], language: de,
     headers: {}}
"""
    a, b = _load(tmp_path, text)
    assert (a.interval, a.tags, a.language, a.headers) == (
        timedelta(hours=2),
        ("eu",),
        "fr",
        {"Accept-Language": "fr"},
    )
    assert (b.interval, b.tags, b.language, b.headers) == (timedelta(minutes=15), ("x",), "de", {})


def test_bad_default_is_reported_once(tmp_path: Path) -> None:
    text = (
        "defaults:\n  interval: soon\n" + BASE + "  - {id: b, name: B, kind: feed, url: 'https://e.org/'}\n"
    )
    problem = _one_problem(tmp_path, text)
    assert problem.line == 2
    assert "defaults.interval: 'soon' is not a duration" in str(problem)


def test_merge_keys_inside_sources(tmp_path: Path) -> None:
    text = """\
sources:
  - &base {id: a, name: A, kind: feed, url: "https://example.org/a", tags: [news], interval: 1h}
  - <<: *base
    id: b
    url: https://example.org/b
"""
    a, b = _load(tmp_path, text)
    assert (b.id, b.name, b.url, b.tags, b.interval) == (
        "b",
        "A",
        "https://example.org/b",
        ("news",),
        timedelta(hours=1),
    )
    assert a.id == "a"


def test_configerrors_is_a_configerror_with_the_first_problem() -> None:
    first = ConfigError("one", path="f.yaml", line=3, hint="fix one")
    second = ConfigError("two", path="f.yaml", line=9, hint="fix two")
    both = ConfigErrors([first, second])
    assert isinstance(both, ConfigError)
    assert (both.path, both.line, both.hint, both.errors) == ("f.yaml", 3, "fix one", (first, second))
    assert str(both) == "f.yaml: 2 problems\nf.yaml:3: one (fix: fix one)\nf.yaml:9: two (fix: fix two)"
    assert str(ConfigErrors([first])) == "f.yaml:3: one (fix: fix one)"


def test_shipped_sources_yaml() -> None:
    sources = load_sources(ROOT / "sources.yaml")
    assert len(sources) >= 25
    ids = [s.id for s in sources]
    assert len(ids) == len(set(ids))
    assert {"en", "fr", "de", "es", "ar"} <= {s.language for s in sources}
    assert {s.kind for s in sources} == {"feed", "page"}
    assert sum(s.kind == "page" for s in sources) >= 2
    assert all(s.tags for s in sources)
    assert all({"agency", "government", "news"} & set(s.tags) for s in sources)
    assert all(s.url.startswith("https://") for s in sources)
    text = (ROOT / "sources.yaml").read_text(encoding="utf-8")
    assert "veille sources check --probe" in text


# --- settings ---------------------------------------------------------------------------------------------


def test_every_setting_has_a_default_and_a_description() -> None:
    defaults = MonitorSettings()
    for name, field in MonitorSettings.model_fields.items():
        assert field.description, name
        assert not field.is_required(), name
        assert hasattr(defaults, name)


@pytest.mark.parametrize(
    ("environ", "field", "expected"),
    [
        pytest.param({}, "database_url", "sqlite:///veille.db", id="default-db"),
        pytest.param(
            {"DATABASE_URL": "postgresql://u@h/db"}, "database_url", "postgresql://u@h/db", id="db-url"
        ),
        pytest.param(
            {"VEILLE_DATABASE_URL": "sqlite:///x.db"},
            "database_url",
            "sqlite:///veille.db",
            id="db-url-only-from-DATABASE_URL",
        ),
        pytest.param({"VEILLE_ALLOW_PRIVATE": "1"}, "allow_private", True, id="private-1"),
        pytest.param({"VEILLE_ALLOW_PRIVATE": "true"}, "allow_private", True, id="private-true"),
        pytest.param({"VEILLE_ALLOW_PRIVATE": "yes"}, "allow_private", True, id="private-yes"),
        pytest.param({"VEILLE_ALLOW_PRIVATE": "0"}, "allow_private", False, id="private-0"),
        pytest.param({"VEILLE_ALLOW_PRIVATE": "false"}, "allow_private", False, id="private-false"),
        pytest.param({"VEILLE_ALLOW_PRIVATE": "no"}, "allow_private", False, id="private-no"),
        pytest.param({"VEILLE_CONTACT": " ops@example.org "}, "contact", "ops@example.org", id="contact"),
        pytest.param({"VEILLE_CONTACT": ""}, "contact", None, id="empty-is-unset"),
        pytest.param({"VEILLE_USER_AGENT": "bot/1"}, "user_agent", "bot/1", id="user-agent"),
        pytest.param({"VEILLE_GLOBAL_CONCURRENCY": "64"}, "global_concurrency", 64, id="int"),
        pytest.param({"VEILLE_JITTER_FRACTION": "0.25"}, "jitter_fraction", 0.25, id="float"),
        pytest.param({"VEILLE_PAUSE_AFTER_ERRORS": "0"}, "pause_after_errors", 0, id="never-pause"),
        pytest.param({"VEILLE_MAX_BODY_BYTES": "65536"}, "max_body_bytes", 65536, id="body-lower-bound"),
    ],
)
def test_settings_from_env(environ: dict[str, str], field: str, expected: object) -> None:
    assert getattr(settings_from_env(environ), field) == expected


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        pytest.param(
            {"VEILLE_GLOBAL_CONCURRENCY": "lots"},
            "VEILLE_GLOBAL_CONCURRENCY='lots': Input should be a valid integer, unable to parse string as "
            "an integer (fix: set VEILLE_GLOBAL_CONCURRENCY to a whole number between 1 and 512 "
            "(requests in flight across all hosts))",
            id="not-int",
        ),
        pytest.param(
            {"VEILLE_GLOBAL_CONCURRENCY": "0"},
            "fix: set VEILLE_GLOBAL_CONCURRENCY to a whole number between 1 and 512",
            id="int-below",
        ),
        pytest.param(
            {"VEILLE_PER_HOST_CONCURRENCY": "17"}, "Input should be less than or equal to 16", id="int-above"
        ),
        pytest.param(
            {"VEILLE_ALLOW_PRIVATE": "maybe"},
            "(fix: set VEILLE_ALLOW_PRIVATE to 1/true/yes or 0/false/no",
            id="bool",
        ),
        pytest.param({"VEILLE_JITTER_FRACTION": "0.9"}, "to a number between 0 and 0.5", id="float-above"),
        pytest.param(
            {"VEILLE_MAX_BODY_BYTES": "1024"}, "greater than or equal to 65536", id="body-too-small"
        ),
        pytest.param(
            {"DATABASE_URL": "not a url"},
            "DATABASE_URL=(a database URL, not shown): not a database URL",  # it may hold a password
            id="db-url",
        ),
        pytest.param({"VEILLE_CONTACT": "a\nX-Evil: 1"}, "contains a line break", id="contact-crlf"),
        pytest.param(
            {"VEILLE_MIN_INTERVAL_S": "7200", "VEILLE_MAX_INTERVAL_S": "3600"},
            "min_interval_s is above max_interval_s",
            id="min-above-max",
        ),
        pytest.param(
            {"VEILLE_BACKOFF_BASE_S": "80000", "VEILLE_BACKOFF_CAP_S": "3600"},
            "backoff_base_s is above backoff_cap_s",
            id="backoff",
        ),
    ],
)
def test_bad_setting_names_the_variable_and_a_fix(environ: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        settings_from_env(environ)
    assert expected in str(info.value)
    assert info.value.hint


def test_all_bad_settings_are_reported_together() -> None:
    with pytest.raises(ConfigErrors) as info:
        settings_from_env({"VEILLE_GLOBAL_CONCURRENCY": "x", "VEILLE_READ_TIMEOUT_S": "y"})
    assert [e.detail.split("=")[0] for e in info.value.errors] == [
        "VEILLE_GLOBAL_CONCURRENCY",
        "VEILLE_READ_TIMEOUT_S",
    ]


@pytest.mark.parametrize(
    ("environ", "overrides", "field", "expected"),
    [
        pytest.param(
            {"DATABASE_URL": "sqlite:///a.db"},
            {"database_url": "sqlite:///b.db"},
            "database_url",
            "sqlite:///b.db",
            id="override-wins",
        ),
        pytest.param(
            {"DATABASE_URL": "sqlite:///a.db"},
            {"database_url": None},
            "database_url",
            "sqlite:///a.db",
            id="none-override-ignored",
        ),
        pytest.param({}, {"allow_private": True}, "allow_private", True, id="typed-override"),
    ],
)
def test_settings_overrides(
    environ: dict[str, str], overrides: dict[str, Any], field: str, expected: object
) -> None:
    assert getattr(settings_from_env(environ, **overrides), field) == expected


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        pytest.param(
            {"global_concurency": 4},
            "unknown setting 'global_concurency' (fix: did you mean 'global_concurrency'?)",
            id="typo",
        ),
        pytest.param(
            {"max_redirects": 50},
            "setting max_redirects=50: Input should be less than or equal to 20 "
            "(fix: set VEILLE_MAX_REDIRECTS to a whole number between 0 and 20",
            id="out-of-bounds",
        ),
    ],
)
def test_bad_override(overrides: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        settings_from_env({}, **overrides)
    assert expected in str(info.value)


def test_env_var_names() -> None:
    assert env_var("database_url") == "DATABASE_URL"
    assert env_var("allow_private") == "VEILLE_ALLOW_PRIVATE"
    assert env_var("startup_spread_s") == "VEILLE_STARTUP_SPREAD_S"


def test_settings_are_frozen() -> None:
    settings = MonitorSettings()
    with pytest.raises(ValidationError):
        settings.global_concurrency = 3  # type: ignore[misc]

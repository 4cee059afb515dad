"""Configuration: sources.yaml and the monitor's settings, validated at the boundary (pydantic).

``load_sources`` reads the file with PyYAML's composer (SafeLoader) so every node keeps its line, builds plain
data from the nodes, validates it with pydantic and maps each error's location back to its line. Every problem
is reported at once, one per line, each naming the file, the line and a fix::

    sources.yaml:42: sources[3] (id=europol-news): unknown key 'intervall' (fix: did you mean 'interval'? ...)

``settings_from_env`` builds :class:`MonitorSettings` from the environment (``DATABASE_URL`` and
``VEILLE_<FIELD>``) and explicit overrides (command-line flags). Nothing is read at import time.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from cssselect import SelectorError
from lxml.cssselect import CSSSelector
from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, ValidationError, model_validator
from pydantic_core import ErrorDetails, PydanticCustomError

from monitor.errors import ConfigError
from monitor.validation import (
    ConfigErrors,
    invalid,
    long_number_problem,
    nesting_problem,
    one_line,
    opt,
    show,
    too_deep,
    unreadable_value,
)

if TYPE_CHECKING:
    from monitor.page import PageSelectors

_DURATION = re.compile(r"(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?\s*(?:(\d+)\s*s)?")
_DURATION_HINT = "use a number of seconds or 90s, 30m, 2h, 1d, 1h30m"
_SLUG = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an HTTP field name (RFC 9110 5.1)
_FRAMING_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})
_ISO_639_1_CODES = (
    "aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu cv cy da de dv "
    "dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz ia id ie ig "
    "ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li ln lo lt lu lv mg mh "
    "mi mk ml mn mr ms mt my na nb nd ne ng nl nn no nr nv ny oc oj om or os pa pi pl ps pt qu rm rn ro ru "
    "rw sa sc sd se sg si sk sl sm sn so sq sr ss st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug "
    "uk ur uz ve vi vo wa wo xh yi yo za zh zu"
)
_ISO_639_1 = frozenset(_ISO_639_1_CODES.split())
ISO_639_1 = _ISO_639_1  # the language codes veille accepts anywhere (sources, filters, --lang)


def format_duration(value: timedelta) -> str:
    """``timedelta(hours=1, minutes=30)`` -> ``"1h30m"``: the form sources.yaml accepts."""
    s = int(value.total_seconds())
    parts = [(s // 86400, "d"), (s % 86400 // 3600, "h"), (s % 3600 // 60, "m"), (s % 60, "s")]
    return "".join(f"{n}{unit}" for n, unit in parts if n) or "0s"


MAX_DURATION = timedelta(days=36500)  # about a century: longer is a typo, and no date is that far back
_MAX_DIGITS = 12  # a whole number of seconds longer than this is far beyond MAX_DURATION
_MAX_TEXT = 60  # characters of a duration written as text
_LONGEST_INTERVAL = timedelta(days=7)
_INTERVAL_HINT = "use a duration between 1m and 7d"


def _seconds(value: object, longest: timedelta, too_long: PydanticCustomError) -> float:
    """The positive number of seconds ``value`` says, at most ``longest`` (else ``too_long``)."""
    text = value.strip().lower() if isinstance(value, str) else ""
    not_one = invalid(f"{show(value)} is not a duration", _DURATION_HINT)
    if len(text) > _MAX_TEXT:  # a duration is short: a long run of digits is a typo (int() refuses 4,300)
        raise too_long if re.fullmatch(r"[\d\sdhms]+", text) else not_one
    match = _DURATION.fullmatch(text)
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value) if not isinstance(value, int) or abs(value) < 10**_MAX_DIGITS else math.inf
    elif text.isdigit():
        seconds = float(text)
    elif match and any(match.groups()):
        days, hours, minutes, secs = (int(g or 0) for g in match.groups())
        seconds = float(days * 86400 + hours * 3600 + minutes * 60 + secs)
    else:
        raise not_one
    if math.isnan(seconds) or seconds <= 0:
        raise invalid(f"{show(value)} is not a positive duration", _DURATION_HINT)
    if seconds > longest.total_seconds():  # also inf: timedelta() would overflow
        raise too_long
    return seconds


def _parse_duration(value: object) -> timedelta:
    too_long = invalid(f"{show(value)} is too long a duration", f"at most {format_duration(MAX_DURATION)}")
    return timedelta(seconds=_seconds(value, MAX_DURATION, too_long))


def _parse_interval(value: object) -> timedelta:
    too_long = invalid(f"{show(value)} is out of bounds", _INTERVAL_HINT)
    return timedelta(seconds=_seconds(value, _LONGEST_INTERVAL, too_long))


def parse_duration(value: object) -> timedelta:
    """A duration such as 90s, 30m, 2h, 1d, 1h30m or a number of seconds, at most ``MAX_DURATION``; ValueError
    with a fix if not."""
    try:
        return _parse_duration(value)
    except PydanticCustomError as exc:
        hint = (exc.context or {}).get("hint", _DURATION_HINT)
        raise ValueError(f"{exc} ({hint})") from None


def _interval_bounds(value: timedelta) -> timedelta:
    if not timedelta(minutes=1) <= value <= _LONGEST_INTERVAL:
        raise invalid(f"{format_duration(value)} is out of bounds", _INTERVAL_HINT)
    return value


def _language(value: object) -> str:
    if isinstance(value, bool):  # YAML 1.1 reads a bare `no` (Norwegian) as false
        raise invalid(f"{value!r} is not a language code", "put the code in quotes, e.g. language: 'no'")
    code = re.split(r"[-_]", value.strip().lower(), maxsplit=1)[0] if isinstance(value, str) else ""
    if code == "auto" or code in _ISO_639_1:
        return code
    hint = "use 'auto' or a two-letter code such as en, fr, de, es, ar"
    raise invalid(f"{show(value)} is not an ISO 639-1 language code", hint)


def _slug(value: str) -> str:
    if _SLUG.fullmatch(value):
        return value
    suggestion = re.sub(r"[^a-z0-9_.-]+", "-", value.lower()).strip("-._")[:64]
    hint = "use lower-case letters, digits, '-', '_' and '.', at most 64 characters"
    raise invalid(f"{value!r} is not a valid id", f"{hint}, e.g. {suggestion!r}" if suggestion else hint)


def _http_url(value: str) -> str:
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or re.search(r"\s", value):
        hint = "write the full address, e.g. https://example.org/feed.xml"
        raise invalid(f"{value!r} is not an http(s) URL", hint)
    return value


def _css(value: str) -> str:
    try:
        CSSSelector(value)
    except SelectorError as exc:
        hint = "use a CSS selector such as 'article.news-item' or 'ul.results > li a'"
        raise invalid(f"{value!r} is not a valid CSS selector ({exc})", hint) from exc
    return value


def _header_name(value: str) -> str:
    if not _TOKEN.fullmatch(value):
        raise invalid(f"{value!r} is not a valid header name", "use letters, digits and '-', e.g. X-Api-Key")
    if value.lower() in _FRAMING_HEADERS:
        raise invalid(f"header {value!r} cannot be set per source", "remove it: the fetcher sets it")
    return value


def _tag(value: str) -> str:
    tag = value.strip().lower()
    if not tag or re.search(r"[\s,]", tag):
        raise invalid(f"{value!r} is not a tag", "use single words such as police, eu, fr ('-' joins words)")
    return tag


Duration = Annotated[timedelta, BeforeValidator(_parse_duration)]
Interval = Annotated[timedelta, BeforeValidator(_parse_interval), AfterValidator(_interval_bounds)]
Language = Annotated[str, BeforeValidator(_language)]
Selector = Annotated[str, AfterValidator(_css)]
Tag = Annotated[str, AfterValidator(_tag)]
Headers = dict[Annotated[str, AfterValidator(_header_name)], Annotated[str, AfterValidator(one_line)]]


class PageSelectorsConfig(BaseModel, frozen=True, extra="forbid"):
    """CSS selectors that turn a press-release listing into items (see monitor.page)."""

    item: Selector = Field(description="CSS of one entry of the listing")
    link: Selector | None = opt(None, "the <a> inside an item (default: its first link)")
    title: Selector | None = opt(None, "the title inside an item (default: the link's text)")
    date: Selector | None = opt(None, "the date inside an item (<time datetime> preferred)")
    summary: Selector | None = opt(None, "a short description inside an item")


class SourceConfig(BaseModel, frozen=True, extra="forbid"):
    """One source to watch: a feed (RSS, Atom, JSON Feed) or a web page read with CSS selectors."""

    id: Annotated[str, AfterValidator(_slug)] = Field(description="a unique slug, e.g. europol-news")
    name: Annotated[str, Field(min_length=1)] = Field(description="a readable name")
    kind: Literal["feed", "page"] = Field(description="feed, or page (needs selectors)")
    url: Annotated[str, AfterValidator(_http_url)] = Field(description="the http(s) address to poll")
    language: Language = opt("auto", "'auto' or the ISO 639-1 code of the articles")
    interval: Interval = opt(timedelta(minutes=30), "how often to check, e.g. 30m")
    min_interval: Interval | None = opt(None, "lower bound of the adaptive interval")
    max_interval: Interval | None = opt(None, "upper bound of the adaptive interval")
    adaptive: bool = opt(True, "follow the source's publishing rate within the bounds")
    tags: tuple[Tag, ...] = opt((), "labels copied to every article, e.g. [agency, eu]")
    selectors: PageSelectorsConfig | None = opt(None, "CSS selectors (kind: page only)")
    fulltext: bool = opt(False, "fetch each new article's page and extract its text")
    headers: Headers = Field(default_factory=dict, description="extra request headers")
    enabled: bool = opt(True, "false: keep the source in the file but do not poll it")
    official: bool | None = opt(
        None, "an official source (agency, ministry, police): listed first; default: tagged so"
    )

    @property
    def is_official(self) -> bool:
        """``official`` when set, else whether a tag says so (agency, government, ministry, police...)."""
        return self.official if self.official is not None else bool(OFFICIAL_TAGS & set(self.tags))

    @model_validator(mode="after")
    def _consistent(self) -> SourceConfig:
        low, high, interval = self.min_interval, self.max_interval, self.interval
        if self.kind == "page" and self.selectors is None:
            hint = "add selectors: {item: 'CSS of one entry', link: 'a', date: 'time'}, or use kind: feed"
            raise invalid("a page source needs selectors", hint)
        if self.kind == "feed" and self.selectors is not None:
            raise invalid("selectors are only for kind: page", "remove selectors, or set kind: page")
        if low is not None and high is not None and low > high:
            bounds = f"{format_duration(low)} > {format_duration(high)}"
            raise invalid(f"min_interval is above max_interval ({bounds})", "swap them")
        if (low is not None and interval < low) or (high is not None and interval > high):
            message = f"interval {format_duration(interval)} is outside min_interval/max_interval"
            raise invalid(message, "choose an interval between the two bounds")
        return self


OFFICIAL_TAGS = frozenset({"agency", "government", "ministry", "police", "official", "justice"})


class SourceDefaults(BaseModel, frozen=True, extra="forbid"):
    """Values applied to every source that does not set them."""

    interval: Interval | None = None
    tags: tuple[Tag, ...] | None = None
    language: Language | None = None
    headers: Headers | None = None


class SourcesFile(BaseModel, frozen=True, extra="forbid"):
    """The whole sources.yaml."""

    version: Literal[1] = 1
    defaults: SourceDefaults = SourceDefaults()
    sources: Annotated[list[SourceConfig], Field(min_length=1)] = Field(
        description="a list of '- id: ...' entries"
    )

    @model_validator(mode="before")
    @classmethod
    def _apply_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("sources"), list):
            return data
        try:
            defaults = SourceDefaults.model_validate(data.get("defaults") or {})
        except ValidationError:
            return data  # reported once, by the validation of the `defaults` field
        values = defaults.model_dump(exclude_none=True)
        sources = [{**values, **src} if isinstance(src, dict) else src for src in data["sources"]]
        return {**data, "sources": sources}


def _error(name: str, line: int | None, message: str, hint: str | None) -> ConfigError:
    return ConfigError(message, path=name, line=line, hint=hint)


def load_sources(path: str | Path) -> list[SourceConfig]:
    """The sources of a sources.yaml file. Raises :class:`ConfigErrors` listing every problem found."""
    name = str(path)
    text = _read(Path(path), name)
    root = _compose(text, name)
    errors = [*_duplicate_keys(root, name), *_duplicate_ids(root, name)]
    try:
        data = yaml.SafeLoader("").construct_document(root)
    except yaml.MarkedYAMLError as exc:  # e.g. an unknown !tag
        raise ConfigErrors([_yaml_error(exc, name)]) from exc
    except ValueError as exc:  # an int of 4,300 digits or more, a date such as 2024-02-30
        raise ConfigErrors([long_number_problem(text, name) or unreadable_value(exc, name)]) from exc
    try:
        sources = list(SourcesFile.model_validate(data).sources)
    except ValidationError as exc:
        errors += [_pydantic_error(err, root, name) for err in exc.errors(include_url=False)]
        raise ConfigErrors(sorted(errors, key=lambda e: e.line or 0)) from exc
    if errors:
        raise ConfigErrors(sorted(errors, key=lambda e: e.line or 0))
    return sources


def _read(path: Path, name: str) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        hint = "create it (veille ships a sources.yaml to start from), or pass --sources PATH"
        raise ConfigErrors([_error(name, None, "file not found", hint)]) from exc
    except OSError as exc:
        message = f"cannot read the file: {exc.strerror}"
        raise ConfigErrors([_error(name, None, message, "check the path and its permissions")]) from exc
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigErrors([_error(name, line, "not UTF-8 text", "save the file as UTF-8")]) from exc


def _compose(text: str, name: str) -> yaml.Node:
    too_nested = nesting_problem(text, name)
    if too_nested is not None:
        raise ConfigErrors([too_nested])
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except RecursionError:  # PyYAML recurses once per level of nesting
        raise ConfigErrors([too_deep(name)]) from None
    except yaml.MarkedYAMLError as exc:
        indents = (line[: len(line) - len(line.lstrip())] for line in text.splitlines())
        tabs = [n for n, indent in enumerate(indents, 1) if "\t" in indent]
        hint = "indent with spaces, not tabs"
        errors = [_error(name, n, "tab in the indentation", hint) for n in tabs]
        raise ConfigErrors(errors or [_yaml_error(exc, name)]) from exc
    if root is None:
        hint = "add a 'sources:' list (see the sources.yaml shipped with veille)"
        raise ConfigErrors([_error(name, 1, "the file is empty", hint)])
    return root


def _yaml_error(exc: yaml.MarkedYAMLError, name: str) -> ConfigError:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark else None
    what = " ".join(part for part in (exc.context, exc.problem) if part)
    if isinstance(exc, yaml.constructor.ConstructorError):  # a !tag SafeLoader refuses to build
        return _error(name, line, f"unsupported YAML value: {what}", "remove the !tag: plain values only")
    return _error(name, line, f"YAML syntax error: {what}", "check the indentation and quotes around here")


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _duplicate_keys(node: yaml.Node, name: str, seen_nodes: set[int] | None = None) -> list[ConfigError]:
    """PyYAML silently keeps the last of two equal keys: find them in the node tree (aliases visited once)."""
    seen_nodes = set() if seen_nodes is None else seen_nodes
    if id(node) in seen_nodes:
        return []
    seen_nodes.add(id(node))
    errors: list[ConfigError] = []
    first: dict[object, int] = {}
    for key, value in node.value if isinstance(node, yaml.MappingNode) else []:
        if isinstance(key, yaml.ScalarNode) and key.value in first:
            message = f"duplicate key '{key.value}' (first at line {first[key.value]})"
            errors.append(_error(name, _line(key), message, "keep only one of them"))
        elif isinstance(key, yaml.ScalarNode):
            first[key.value] = _line(key)
        errors += _duplicate_keys(value, name, seen_nodes)
    for item in node.value if isinstance(node, yaml.SequenceNode) else []:
        errors += _duplicate_keys(item, name, seen_nodes)
    return errors


def _duplicate_ids(root: yaml.Node, name: str) -> list[ConfigError]:
    first: dict[str, int] = {}
    errors: list[ConfigError] = []
    sources = _child(root, "sources")
    for index, item in enumerate(sources.value if isinstance(sources, yaml.SequenceNode) else []):
        node = _child(item, "id")
        if isinstance(node, yaml.ScalarNode) and node.value in first:
            message = f"sources[{index}].id: duplicate id '{node.value}' (also at line {first[node.value]})"
            errors.append(_error(name, _line(node), message, "give each source its own id"))
        elif isinstance(node, yaml.ScalarNode):
            first[node.value] = _line(node)
    return errors


def _child(node: yaml.Node | None, part: str | int, *, key: bool = False) -> yaml.Node | None:
    """The value (or, with ``key``, the key) node at ``part`` of a mapping or sequence node."""
    if isinstance(node, yaml.MappingNode) and isinstance(part, str):
        found = [(k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == part]
        return found[-1][0 if key else 1] if found else None  # the last one, as PyYAML keeps
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        child: yaml.Node = node.value[part]
        return child
    return None


def _locate(root: yaml.Node, loc: Sequence[str | int]) -> yaml.Node:
    """The deepest node along ``loc`` (pydantic's error location) that exists in the file."""
    node = root
    for part in loc:
        child = _child(node, part)
        if child is None:
            break
        node = child
    return node


def _where(loc: Sequence[str | int], root: yaml.Node) -> str:
    """A readable path, with the source's id for a source: ``sources[3] (id=europol-news)``."""
    text = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc if p != "[key]").lstrip(".")
    if len(loc) == 2 and loc[0] == "sources":
        node = _child(_child(_child(root, "sources"), loc[1]), "id")
        if isinstance(node, yaml.ScalarNode):
            text += f" (id={node.value})"
    return text or "top level"


def _model_at(loc: Sequence[str | int]) -> type[BaseModel]:
    models: dict[str | int, type[BaseModel]] = {
        "sources": SourceConfig,
        "defaults": SourceDefaults,
        "selectors": PageSelectorsConfig,
    }
    model: type[BaseModel] = SourcesFile
    for part in loc:
        model = models.get(part, model)
    return model


_TYPE_HINTS = {
    "string_type": "write it as text (in quotes)",
    "bool_type": "use true or false",
    "bool_parsing": "use true or false",
    "dict_type": "write key: value lines under it",
    "model_type": "write key: value lines under it",
    "tuple_type": "use a list, e.g. [police, eu]",
    "list_type": "use a list: one '- item' per line",
    "too_short": "add at least one entry",
    "string_too_short": "write a non-empty value",
}


def _pydantic_error(err: ErrorDetails, root: yaml.Node, name: str) -> ConfigError:
    loc, kind, ctx = tuple(err["loc"]), err["type"], err.get("ctx") or {}
    key, parent = str(loc[-1]) if loc else "", loc[:-1]
    if kind == "extra_forbidden":
        allowed = list(_model_at(parent).model_fields)
        close = difflib.get_close_matches(key, allowed, n=1)
        hint = (f"did you mean '{close[0]}'? " if close else "") + "allowed keys: " + ", ".join(allowed)
        node = _child(_locate(root, parent), key, key=True) or _locate(root, loc)
        return _error(name, _line(node), f"{_where(parent, root)}: unknown key '{key}'", hint)
    if kind == "missing":
        field = _model_at(parent).model_fields.get(key)
        hint = f"add {key}: <{field.description}>" if field and field.description else f"add {key}"
        return _error(
            name, _line(_locate(root, parent)), f"{_where(parent, root)}: missing key '{key}'", hint
        )
    if kind == "veille":
        message, hint = str(ctx["message"]), str(ctx["hint"])
    elif kind in ("model_type", "dict_type"):
        message = f"expected key: value lines, got {type(err['input']).__name__} {show(err['input'])}"
        hint = (
            "start the file with 'sources:' and list the sources under it" if not loc else _TYPE_HINTS[kind]
        )
    elif kind == "literal_error":
        message, hint = f"{show(err['input'])} is not allowed", f"use {ctx.get('expected', 'another value')}"
    else:
        message = f"{show(err['input'])}: {err['msg']}"
        hint = _TYPE_HINTS.get(kind, "see the comments at the top of the shipped sources.yaml")
    return _error(name, _line(_locate(root, loc)), f"{_where(loc, root)}: {message}", hint)


def page_selectors(cfg: SourceConfig) -> PageSelectors | None:
    """The selectors of a page source as monitor.page's dataclass; None for a feed."""
    from monitor.page import PageSelectors

    sel = cfg.selectors
    if sel is None:
        return None
    return PageSelectors(item=sel.item, link=sel.link, title=sel.title, date=sel.date, summary=sel.summary)

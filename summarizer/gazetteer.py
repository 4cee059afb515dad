"""Gazetteer: the canonical entities mentions are linked to, and the alias normalization behind the links.

``data/entities.yaml`` (its header documents the format) and user files merged over it are validated here
(pydantic): unknown keys, duplicate ids, an alias of two entities, a name that normalizes to nothing... each
problem is reported with its file, line and fix, all at once.

Linking is an exact lookup of :func:`normalize_alias`: NFKC, case, accents, Arabic harakat and tatweel and
letter variants (أ إ آ ٱ -> ا, ى -> ي, ة -> ه) folded; quotes and dots dropped ("U.S." == "US"); a hyphen
separates words ("al-Qaïda" == "Al Qaida"); a leading article of the text's language ("l'", "die", "los"...,
and "the" anywhere; the "al-" of a transliterated Arabic name is part of it) and an English possessive
dropped; an Arabic article cluster (ال وال بال كال فال لل) dropped from the first word. A bare proclitic
(و ف ب ك ل) cannot be told from a root letter ("فيسبوك"), so :meth:`Gazetteer.link` only tries without it as a
fallback that must hit a known alias ("لداعش" -> داعش).

Ambiguous names are guarded per alias: ``case_sensitive`` ("IS", not "it is"; acronyms of up to 5 capitals by
default), ``langs`` ("EI" in French and Spanish texts only), ``context`` ("X" only in a sentence that says
"Twitter", "platform"...); a case-sensitive alias of one or two letters never matches in a sentence written
in capitals ("IT IS TIME").
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from itertools import combinations
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, ValidationError

from monitor.errors import ConfigError
from monitor.validation import ConfigErrors

EntityType = Literal["agency", "platform", "group", "person", "place", "organisation"]
ENTITY_TYPES: tuple[EntityType, ...] = get_args(EntityType)
DEFAULT_PATH = Path(__file__).resolve().parent / "data" / "entities.yaml"

_ARTICLE_WORDS = {"en": "the", "fr": "le la les l'", "de": "der die das den dem des", "es": "el la los las",
                  "it": "il lo la i gli le l'", "pt": "o a os as", "nl": "de het"}  # fmt: skip
_ARTICLES: Mapping[str, tuple[str, ...]] = {
    lang: tuple(words.split()) for lang, words in _ARTICLE_WORDS.items()
}
_PROFILES = ("", *_ARTICLES)  # "" = a language without an article list (or unknown)
_APOSTROPHES = str.maketrans(dict.fromkeys("’‘‛ʼ`´′ʹ＇", "'"))
_QUOTES = re.compile(r"[\"«»“”„‟‹›「」『』]")
_HYPHENS = re.compile(r"[-‐‑‒–—―−﹘﹣－\u00ad]")
_ARABIC_LETTERS = str.maketrans({"ٱ": "ا", "ى": "ي", "ة": "ه", "\u0640": None})  # + tatweel removed
_ARABIC = re.compile(r"[\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff]")
_ARABIC_ARTICLE = re.compile(r"^[وف]?(?:[بكل]?ال|لل)(?=\S{2})")
_EDGE = " ,;:!?.'"
_ACRONYM = re.compile(r"[A-Z0-9]{2,5}")
_LANG = r"^[a-z]{2,3}$"


def base_lang(lang: str | None) -> str | None:
    """``"fr-FR"`` -> ``"fr"``; ``None`` or an empty code -> ``None``."""
    code = (lang or "").strip().lower().replace("_", "-").split("-")[0]
    return code or None


def fold_marks(text: str) -> str:
    """``text`` without combining marks (accents, harakat) and tatweel, Arabic letter variants unified
    (أ إ آ ٱ -> ا, ى -> ي, ة -> ه)."""
    text = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", text.translate(_ARABIC_LETTERS))


def _clean(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).translate(_APOSTROPHES)
    text = _HYPHENS.sub(" ", _QUOTES.sub(" ", text))
    return " ".join(fold_marks(text).replace(".", "").split())


def _normalize(text: str, lang: str | None, *, keep_case: bool) -> str:
    text = _clean(text).strip(_EDGE)
    text = text if keep_case else text.casefold()
    for article in (*_ARTICLES.get(base_lang(lang) or "", ()), "the"):  # English names appear everywhere
        cut = len(article) if article.endswith("'") else len(article) + 1
        if text[:cut].casefold() in (article, article + " ") and len(text) > cut:
            text = text[cut:].lstrip()
            break
    if text[-2:].casefold() == "'s":
        text = text[:-2]
    text = text.replace("'", "")
    if _ARABIC.match(text):
        text = _ARABIC_ARTICLE.sub("", text, count=1)
    return text.strip(_EDGE)


def normalize_alias(text: str, lang: str | None = None) -> str:
    """The form aliases and mentions are compared in (see the module docstring); "" for a non-name."""
    return _normalize(text, lang, keep_case=False)


def _proclitic_variants(text: str) -> list[str]:
    """``text`` without a bare leading و/ف, then ب/ك/ل, on its first word (Arabic only), longest first."""
    stems = [text, text[1:]] if text[:1] in ("و", "ف") and len(text.split(" ")[0]) > 3 else [text]
    cut = [stem[1:] for stem in stems if stem[:1] in ("ب", "ك", "ل") and len(stem.split(" ")[0]) > 3]
    return [*stems[1:], *cut]


def _shouting(text: str) -> bool:
    cased = [c for c in text if c.isupper() or c.islower()]
    return len(cased) >= 8 and sum(c.isupper() for c in cased) > 0.8 * len(cased)


def _context_regex(words: Sequence[str]) -> re.Pattern[str] | None:
    parts = [re.escape(_clean(w.rstrip("*")).casefold()) + (r"\w*" if w.endswith("*") else "") for w in words]
    return re.compile(r"(?<!\w)(?:" + "|".join(parts) + r")(?!\w)") if parts else None


@dataclass(frozen=True, slots=True)
class Alias:
    """One name of an entity and where it may match (see the module docstring)."""

    text: str
    case_sensitive: bool = False
    langs: frozenset[str] | None = None
    context: tuple[str, ...] = ()
    context_re: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def applies(self, lang: str | None, context: str | None) -> bool:
        """Whether this alias may match in a text of ``lang``, around ``context`` (``None``: unknown)."""
        if self.langs is not None and base_lang(lang) not in self.langs:
            return False
        if self.case_sensitive and len(self.text) <= 2 and context is not None and _shouting(context):
            return False
        if self.context_re is None:
            return True
        return context is not None and self.context_re.search(_clean(context).casefold()) is not None


@dataclass(frozen=True, slots=True)
class Entity:
    """A canonical entity. ``aliases`` include its labels; ``origin`` is ``file:line`` of its entry."""

    id: str
    type: EntityType
    labels: Mapping[str, str]
    aliases: tuple[Alias, ...]
    origin: str = ""

    def name(self, lang: str | None = None) -> str:
        """The label in ``lang``, else in English, else the first one."""
        found = self.labels.get(base_lang(lang) or "en") or self.labels.get("en")
        return found or next(iter(self.labels.values()))


@dataclass(frozen=True, slots=True)
class EntityRef:
    """A link to a canonical entity: its id, type and display name in the language asked for."""

    id: str
    type: EntityType
    name: str


class GazetteerError(ConfigErrors):
    """An invalid gazetteer file: ``errors`` lists every problem found, as does the message (one a line)."""


_Entry = tuple[Entity, Alias, str]  # entity, alias, the alias's case-kept normalized key


class Gazetteer:
    """Canonical entities with their aliases indexed per article profile (see :func:`load_gazetteer`)."""

    __slots__ = ("_by_id", "_index")

    def __init__(self, entities: Iterable[Entity]) -> None:
        self._by_id: dict[str, Entity] = {}
        for entity in entities:
            self._by_id[entity.id] = entity
        self._index: dict[str, dict[str, list[_Entry]]] = {p: {} for p in _PROFILES}
        for entity in self._by_id.values():
            for alias in entity.aliases:
                for profile in _PROFILES:
                    exact = _normalize(alias.text, profile, keep_case=True)
                    self._index[profile].setdefault(exact.casefold(), []).append((entity, alias, exact))
        problems = self._conflicts()
        if problems:
            raise GazetteerError(problems)

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[Entity]:
        return iter(self._by_id.values())

    def __contains__(self, entity_id: object) -> bool:
        return entity_id in self._by_id

    def get(self, entity_id: str) -> Entity | None:
        return self._by_id.get(entity_id)

    def aliases_for(self, lang: str | None) -> list[tuple[Entity, Alias]]:
        """Every alias that may match in a text of ``lang`` (context conditions are checked per mention)."""
        code = base_lang(lang)
        return [(e, a) for e in self for a in e.aliases if a.langs is None or code in a.langs]

    def link(self, text: str, lang: str | None = None, context: str | None = None) -> EntityRef | None:
        """The entity ``text`` names in a text of ``lang`` (``context``: its sentence), or ``None``."""
        for entity, alias, _ in self._candidates(text, lang):
            if alias.applies(lang, context):
                return EntityRef(entity.id, entity.type, entity.name(lang))
        return None

    def accepts(self, entity_id: str, text: str, lang: str | None, context: str | None) -> bool:
        """Whether ``text`` may name ``entity_id`` here; ``True`` when no alias of it normalizes to ``text``."""
        found = [alias for entity, alias, _ in self._candidates(text, lang) if entity.id == entity_id]
        return not found or any(alias.applies(lang, context) for alias in found)

    def _candidates(self, text: str, lang: str | None) -> Iterator[_Entry]:
        profile = base_lang(lang) if base_lang(lang) in _ARTICLES else ""
        exact = _normalize(text, lang, keep_case=True)
        index = self._index[profile or ""]
        keys = [exact, *_proclitic_variants(exact)] if _ARABIC.match(exact) else [exact]
        for key in keys:
            hits = [
                (e, a, k) for e, a, k in index.get(key.casefold(), ()) if not a.case_sensitive or k == key
            ]
            yield from hits
            if hits:
                return

    def _conflicts(self) -> list[ConfigError]:
        problems: dict[frozenset[str], ConfigError] = {}
        for profile, index in self._index.items():
            for entries in index.values():
                for (one, alias, key), (other, alias2, key2) in combinations(entries, 2):
                    pair = frozenset((one.id, other.id))
                    if len(pair) == 2 and pair not in problems and _overlap(alias, key, alias2, key2):
                        problems[pair] = _conflict(one, alias, other, profile)
        return list(problems.values())


def _overlap(one: Alias, key: str, other: Alias, other_key: str) -> bool:
    if one.case_sensitive and other.case_sensitive and key != other_key:
        return False
    return one.langs is None or other.langs is None or bool(one.langs & other.langs)


def _conflict(one: Entity, alias: Alias, other: Entity, profile: str) -> ConfigError:
    path, _, line = other.origin.rpartition(":")
    where = f" in {profile} texts" if profile else ""
    message = f"entity '{other.id}': alias '{alias.text}' also names '{one.id}' ({one.origin}){where}"
    hint = "remove it from one of them, or give the two aliases 'langs' that do not overlap"
    return ConfigError(message, path=path or None, line=int(line) if line.isdigit() else None, hint=hint)


# --- loading and validation -------------------------------------------------------------------------------

LangCode = Annotated[str, StringConstraints(pattern=_LANG)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


def _alias_mapping(value: object) -> object:
    return {"text": value} if isinstance(value, str) else value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AliasModel(_Strict):
    text: Name
    case_sensitive: bool | None = None
    langs: list[LangCode] | None = Field(default=None, min_length=1)
    context: list[Name] | None = Field(default=None, min_length=1)


class EntityModel(_Strict):
    id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
    type: EntityType
    labels: dict[LangCode, Name] = Field(min_length=1)
    aliases: list[Annotated[AliasModel, BeforeValidator(_alias_mapping)]] = []


class GazetteerFile(_Strict):
    entities: list[EntityModel]


@cache
def default_gazetteer() -> Gazetteer:
    """The packaged gazetteer, loaded once."""
    return load_gazetteer()


def load_gazetteer(*extra: str | Path, include_default: bool = True) -> Gazetteer:
    """The packaged entities with each ``extra`` file merged over them in order (an id replaces an entry).

    Raises :class:`GazetteerError` naming the file, line and fix of every problem.
    """
    paths = [DEFAULT_PATH] if include_default else []
    merged: dict[str, Entity] = {}
    for path in [*paths, *map(Path, extra)]:
        for entity in _load_file(path):
            merged[entity.id] = entity
    return Gazetteer(merged.values())


def _load_file(path: Path) -> list[Entity]:
    name = str(path)
    root = _compose(path, name)
    problems: list[ConfigError] = []
    try:
        parsed = GazetteerFile.model_validate(yaml.SafeLoader("").construct_document(root))
    except yaml.MarkedYAMLError as exc:
        raise GazetteerError([_yaml_problem(exc, name)]) from exc
    except ValidationError as exc:
        problems += [_pydantic_problem(err, root, name) for err in exc.errors(include_url=False)]
        raise GazetteerError(sorted(problems, key=lambda p: p.line or 0)) from exc
    entities: dict[str, Entity] = {}
    for index, model in enumerate(parsed.entities):
        line = _line(_node_at(root, ("entities", index)))
        entity, errors = _entity(model, f"{name}:{line}", index)
        if model.id in entities:
            errors.append((f"duplicate id '{model.id}' (also at {entities[model.id].origin})", "keep one"))
        entities.setdefault(model.id, entity)
        problems += [ConfigError(msg, path=name, line=line, hint=hint) for msg, hint in errors]
    if problems:
        raise GazetteerError(sorted(problems, key=lambda p: p.line or 0))
    return list(entities.values())


def _entity(model: EntityModel, origin: str, index: int) -> tuple[Entity, list[tuple[str, str]]]:
    """The entity of a validated entry; its labels are aliases too, unless a restricted alias (case, langs,
    context) has the same normalized form: that alias's restrictions then hold for the label."""
    restricted = {normalize_alias(s.text) for s in model.aliases if s.case_sensitive or s.langs or s.context}
    labels = [AliasModel(text=t) for t in model.labels.values() if normalize_alias(t) not in restricted]
    aliases: dict[tuple[object, ...], Alias] = {}
    errors: list[tuple[str, str]] = []
    for spec in [*model.aliases, *labels]:
        alias = _alias(spec)
        if normalize_alias(spec.text):
            aliases.setdefault((alias.text, alias.case_sensitive, alias.langs, alias.context), alias)
        else:
            errors.append((f"entities[{index}] (id={model.id}): '{spec.text}' is not a name", "remove it"))
    entity = Entity(model.id, model.type, dict(model.labels), tuple(aliases.values()), origin)
    return entity, errors


def _alias(spec: AliasModel) -> Alias:
    cased = spec.case_sensitive if spec.case_sensitive is not None else bool(_ACRONYM.fullmatch(spec.text))
    context = tuple(spec.context or ())
    return Alias(
        spec.text, cased, frozenset(spec.langs) if spec.langs else None, context, _context_regex(context)
    )


def _compose(path: Path, name: str) -> yaml.Node:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise GazetteerError([ConfigError("file not found", path=name, hint="check the path")]) from exc
    except (OSError, UnicodeDecodeError) as exc:
        hint = "check the path and its permissions; save the file as UTF-8"
        raise GazetteerError([ConfigError(f"cannot read the file: {exc}", path=name, hint=hint)]) from exc
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        raise GazetteerError([_yaml_problem(exc, name)]) from exc
    if root is None:
        hint = "add an 'entities:' list (see summarizer/data/entities.yaml)"
        raise GazetteerError([ConfigError("the file is empty", path=name, line=1, hint=hint)])
    return root


def _yaml_problem(exc: yaml.MarkedYAMLError, name: str) -> ConfigError:
    mark = exc.problem_mark or exc.context_mark
    what = " ".join(part for part in (exc.context, exc.problem) if part)
    hint = "check the indentation and quotes around here"
    return ConfigError(f"YAML error: {what}", path=name, line=mark.line + 1 if mark else None, hint=hint)


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _node_at(root: yaml.Node, loc: Sequence[int | str]) -> yaml.Node:
    """The deepest node of ``root`` along a pydantic error location."""
    node = root
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            found = [(k, v) for k, v in node.value if k.value == part]
            if not found:
                return node
            node = found[0][1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            return node
    return node


def _pydantic_problem(err: Any, root: yaml.Node, name: str) -> ConfigError:
    loc: tuple[int | str, ...] = tuple(err["loc"])
    node = _node_at(root, loc if err["type"] != "missing" else loc[:-1])
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".") or "file"
    if len(loc) >= 2 and loc[0] == "entities" and isinstance(loc[1], int):
        id_node = _node_at(root, (*loc[:2], "id"))
        if isinstance(id_node, yaml.ScalarNode):
            where += f" (id={id_node.value})"
    model = (
        GazetteerFile
        if len(loc) <= 1
        else AliasModel
        if loc[2:3] == ("aliases",) and len(loc) >= 5
        else EntityModel
    )
    message, hint = f"{where}: {err['msg']}", "see the format in the header of summarizer/data/entities.yaml"
    if err["type"] == "extra_forbidden":
        keys = list(model.model_fields)
        close = difflib.get_close_matches(str(loc[-1]), keys, n=1)
        message = f"{where}: unknown key"
        hint = (f"did you mean '{close[0]}'? " if close else "") + "allowed keys: " + ", ".join(keys)
    elif err["type"] == "literal_error":
        hint = "use one of " + ", ".join(ENTITY_TYPES)
    elif err["type"] == "string_pattern_mismatch":
        hint = "ids: lowercase letters, digits, '-' or '_'; languages: ISO 639-1 codes like 'en'"
    return ConfigError(message, path=name, line=_line(node), hint=hint)


def display_name(key: str, gazetteer: Gazetteer | None, lang: str | None = None) -> str:
    """What a reader sees for an entity key: the gazetteer's name in ``lang`` for a canonical id; for an entity
    not in the gazetteer (``unk:place:france``), its name with capitals when it was stored in lower case."""
    entity = gazetteer.get(key) if gazetteer is not None else None
    if entity is not None:
        return entity.name(lang)
    name = key.split(":", 2)[2] if key.startswith("unk:") and key.count(":") >= 2 else key
    return " ".join(w[:1].upper() + w[1:] for w in name.split(" ")) if name.islower() else name

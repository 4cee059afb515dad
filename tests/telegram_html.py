"""Telegram's ``parse_mode=HTML``, checked the way the Bot API checks it (TDLib's ``parse_html``), a little stricter.

    check_html("<b>5 &lt; 6</b>")     -> "5 < 6"
    parse_html("<b>hi</b> you")       -> ParsedHTML(text="hi you", entities=(Entity("bold", 0, 2),))
    check_html("a < b")               -> TelegramHTMLError: Unsupported start tag "" at byte offset 2

How a text is read, left to right:
1. plain text is copied; ``&...;`` is a character reference: ``&lt; &gt; &amp; &quot;``, ``&#NN;``, ``&#xHH;``;
2. ``<name ...>`` opens a tag: the name runs to a space or ``>`` and must be supported; attributes are
   ``name``, ``name=token`` ([A-Za-z0-9.-], lowercased), ``name="..."`` or ``name='...'`` (references decoded);
3. ``</name>`` closes the innermost open tag (``</>`` closes whatever is open); a tag that enclosed some text
   becomes an entity, with offset and length in UTF-16 code units as the Bot API counts them;
4. at the end no tag may stay open; entities are sorted by offset, outer ones first.

Error messages are Telegram's own wording with UTF-8 byte offsets, so ``"can't parse entities: " + str(error)``
reads like the real answer. Stricter than Telegram, on purpose: an ``&`` that does not start one of the
references above (``&copy;``, ``&lt`` without ``;``, a bare ``&``) is an error, where Telegram keeps it as
literal text; that literal ``&`` is nearly always a missing escape in the sender.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SPACES = " \t\r\n\v"
_TAG_ENTITY = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_REFERENCE = re.compile(r"&(?:(lt|gt|amp|quot)|#([0-9]{1,8})|#x([0-9a-fA-F]{1,7}));")
_SPECIAL = re.compile(r"[&<]")
_NAME_TOKEN = re.compile(r"[A-Za-z0-9.-]*")
_INVALID_UNICODE = (
    "Text contains invalid Unicode characters after decoding HTML entities, "
    "check for unmatched surrogate code units"
)


class TelegramHTMLError(ValueError):
    """The text is not valid Telegram HTML; the message says what and where (UTF-8 byte offset)."""


@dataclass(frozen=True, slots=True)
class Entity:
    """A MessageEntity as the Bot API returns it (offset and length in UTF-16 code units)."""

    type: str
    offset: int
    length: int
    url: str | None = None
    language: str | None = None
    custom_emoji_id: str | None = None

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {"type": self.type, "offset": self.offset, "length": self.length}
        extras = {"url": self.url, "language": self.language, "custom_emoji_id": self.custom_emoji_id}
        data.update({k: v for k, v in extras.items() if v is not None})
        return data


@dataclass(frozen=True, slots=True)
class ParsedHTML:
    text: str
    entities: tuple[Entity, ...]


@dataclass(slots=True)
class _Open:
    tag: str
    argument: str
    offset: int  # UTF-16 offset of the first enclosed character
    start: int  # index in the output chunks where the enclosed text begins


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram's limits and entity offsets."""
    return len(text.encode("utf-16-le")) // 2


def check_html(text: str) -> str:
    """The plain text of a Telegram HTML message; raises TelegramHTMLError where Telegram would refuse it."""
    return parse_html(text).text


def parse_html(text: str) -> ParsedHTML:
    """Plain text and entities of a Telegram HTML message (see the module docstring for the rules)."""
    return _Parser(text).run()


class _Parser:
    def __init__(self, src: str) -> None:
        self.src = src
        self.pos = 0
        self.out: list[str] = []
        self.u16 = 0
        self.stack: list[_Open] = []
        self.entities: list[Entity] = []

    def run(self) -> ParsedHTML:
        while self.pos < len(self.src):
            found = _SPECIAL.search(self.src, self.pos)
            end = found.start() if found else len(self.src)
            self._emit(self.src[self.pos : end])
            self.pos = end
            if not found:
                break
            if found.group() == "&":
                self._emit(self._reference())
            elif self.src.startswith("</", end):
                self._end_tag()
            else:
                self._start_tag()
        if self.stack:
            raise TelegramHTMLError(f'Can\'t find end tag corresponding to start tag "{self.stack[-1].tag}"')
        entities = [e if e.type != "code" else _without_language(e) for e in self.entities]
        entities.sort(key=lambda e: (e.offset, -e.length))
        return ParsedHTML("".join(self.out), tuple(entities))

    def _emit(self, chunk: str) -> None:
        if chunk:
            self.out.append(chunk)
            self.u16 += utf16_len(chunk)

    def _at(self, index: int) -> str:
        return self.src[index] if index < len(self.src) else ""

    def _byte(self, index: int) -> int:
        return len(self.src[:index].encode("utf-8", "surrogatepass"))

    def _skip_spaces(self, index: int) -> int:
        while self._at(index) and self._at(index) in _SPACES:
            index += 1
        return index

    def _reference(self) -> str:
        """Decode the character reference at pos (strict: see the module docstring)."""
        match = _REFERENCE.match(self.src, self.pos)
        if match is None:
            raise TelegramHTMLError(
                f'Unescaped "&" at byte offset {self._byte(self.pos)}: write &amp; '
                "(only &lt; &gt; &amp; &quot; &#NN; &#xHH; are references)"
            )
        self.pos = match.end()
        name, decimal, hexa = match.groups()
        if name:
            return _NAMED[name]
        code = int(decimal) if decimal else int(hexa, 16)
        if 0xD800 <= code <= 0xDFFF:
            raise TelegramHTMLError(_INVALID_UNICODE)
        if not 0 < code < 0x10FFFF:
            raise TelegramHTMLError(
                f"Invalid character reference {match.group()} at byte offset {self._byte(match.start())}"
            )
        return chr(code)

    def _start_tag(self) -> None:
        begin = self.pos
        index = begin + 1
        while self._at(index) and self._at(index) not in _SPACES and self._at(index) != ">":
            index += 1
        if not self._at(index):
            raise TelegramHTMLError(f"Unclosed start tag at byte offset {self._byte(begin)}")
        tag = _ascii_lower(self.src[begin + 1 : index])
        if tag not in _TAG_ENTITY:
            raise TelegramHTMLError(f'Unsupported start tag "{tag}" at byte offset {self._byte(begin)}')
        argument, index = self._attributes(tag, begin, index)
        if tag == "span" and argument != "spoiler":
            raise TelegramHTMLError(
                f'Tag "span" must have class "tg-spoiler" at byte offset {self._byte(begin)}'
            )
        self.pos = index + 1
        self.stack.append(_Open(tag, argument, self.u16, len(self.out)))

    def _attributes(self, tag: str, begin: int, index: int) -> tuple[str, int]:
        """Read the attributes up to the closing '>'; returns the tag's argument and the index of '>'."""
        argument = ""
        while True:
            index = self._skip_spaces(index)
            if self._at(index) == ">":
                return argument, index
            name_begin = index
            while self._at(index) and self._at(index) not in _SPACES and self._at(index) not in "=>/\"'":
                index += 1
            name = self.src[name_begin:index]
            if not name:
                raise TelegramHTMLError(
                    f'Empty attribute name in the tag "{tag}" at byte offset {self._byte(begin)}'
                )
            index = self._skip_spaces(index)
            if not self._at(index):
                raise TelegramHTMLError(f'Unclosed start tag "{tag}" at byte offset {self._byte(begin)}')
            if self._at(index) != "=":
                argument = "1" if (tag, name) == ("blockquote", "expandable") else argument
                continue
            index = self._skip_spaces(index + 1)
            if not self._at(index):
                raise TelegramHTMLError(f'Unclosed start tag "{tag}" at byte offset {self._byte(begin)}')
            value, index = self._attribute_value(index, begin)
            argument = _argument(tag, name, value, argument)

    def _attribute_value(self, index: int, begin: int) -> tuple[str, int]:
        quote = self._at(index)
        if quote not in ("'", '"'):
            token = _NAME_TOKEN.match(self.src, index)
            end = token.end() if token else index
            if not self._at(end) or (self._at(end) not in _SPACES and self._at(end) != ">"):
                raise TelegramHTMLError(f"Unexpected end of name token at byte offset {self._byte(index)}")
            return _ascii_lower(self.src[index:end]), end
        close = self.src.find(quote, index + 1)
        if close < 0:
            raise TelegramHTMLError(f"Unclosed start tag at byte offset {self._byte(begin)}")
        return self._decode(index + 1, close), close + 1

    def _decode(self, start: int, end: int) -> str:
        """The text of src[start:end] with its references decoded (a quoted attribute value)."""
        parts: list[str] = []
        saved, self.pos = self.pos, start
        while (amp := self.src.find("&", self.pos, end)) >= 0:
            parts.append(self.src[self.pos : amp])
            self.pos = amp
            parts.append(self._reference())
        parts.append(self.src[self.pos : end])
        self.pos = saved
        return "".join(parts)

    def _end_tag(self) -> None:
        begin = self.pos
        if not self.stack:
            raise TelegramHTMLError(f"Unexpected end tag at byte offset {self._byte(begin)}")
        index = begin + 2
        while self._at(index) and self._at(index) not in _SPACES and self._at(index) != ">":
            index += 1
        name = _ascii_lower(self.src[begin + 2 : index])
        index = self._skip_spaces(index)
        if self._at(index) != ">":
            raise TelegramHTMLError(f"Unclosed end tag at byte offset {self._byte(begin)}")
        open_tag = self.stack.pop()
        if name and name != open_tag.tag:
            raise TelegramHTMLError(
                f'Unmatched end tag at byte offset {self._byte(begin)}, expected "</{open_tag.tag}>", '
                f'found "</{name}>"'
            )
        self.pos = index + 1
        if self.u16 > open_tag.offset:
            self._add_entity(open_tag)

    def _add_entity(self, open_tag: _Open) -> None:
        kind, offset, length = _TAG_ENTITY[open_tag.tag], open_tag.offset, self.u16 - open_tag.offset
        last = self.entities[-1] if self.entities else None
        same_span = last is not None and (last.offset, last.length) == (offset, length)
        if kind == "text_link":
            url = open_tag.argument or "".join(self.out[open_tag.start :])
            if url and not any(c in _SPACES for c in url):
                self.entities.append(Entity(kind, offset, length, url=url))
        elif kind == "custom_emoji":
            if not open_tag.argument.isdigit() or int(open_tag.argument) <= 0:
                raise TelegramHTMLError("Invalid custom emoji identifier specified")
            self.entities.append(Entity(kind, offset, length, custom_emoji_id=open_tag.argument))
        elif kind == "blockquote" and open_tag.argument:
            self.entities.append(Entity("expandable_blockquote", offset, length))
        elif kind == "pre" and last is not None and same_span and last.type == "code" and last.language:
            self.entities[-1] = Entity("pre", offset, length, language=last.language)
        elif kind == "code" and last is not None and same_span and last.type == "pre" and open_tag.argument:
            self.entities[-1] = Entity("pre", offset, length, language=open_tag.argument)
        else:
            language = open_tag.argument if kind == "code" and open_tag.argument else None
            self.entities.append(Entity(kind, offset, length, language=language))


def _argument(tag: str, name: str, value: str, current: str) -> str:
    """The one attribute each tag cares about: href, emoji-id, code's language, span's class, expandable."""
    if (tag, name) in (("a", "href"), ("tg-emoji", "emoji-id")):
        return value
    if (tag, name) == ("code", "class") and value.startswith("language-"):
        return value.removeprefix("language-")
    if (tag, name) == ("span", "class") and value.startswith("tg-"):
        return value.removeprefix("tg-")
    if (tag, name) == ("blockquote", "expandable"):
        return "1"
    return current


def _without_language(entity: Entity) -> Entity:
    """A language counts only for code inside pre; a lone code entity drops it, as Telegram does."""
    return Entity("code", entity.offset, entity.length)


def _ascii_lower(text: str) -> str:
    return text.translate(_LOWER)


_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

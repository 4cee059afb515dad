"""Near-duplicate detection: a 64-bit similarity fingerprint of an article's body, compared bit by bit.

Exact copies are caught by ``content_hash`` (see :mod:`monitor.normalize`); this stage catches the
syndicated wire copy that another outlet republished under its own title, with its own dateline, a
"read more" line, a copyright notice or a few edited words.

How a fingerprint is made:

1. :func:`dedup_text` picks what is compared: the body without its boilerplate lines (lines of fewer than
   8 words: datelines, bylines, captions; short lines with "read more", "©", "newsletter", ...), and
   without the title when the body is long enough, so a re-titled copy matches. Short bodies keep the
   title, but :func:`is_near_duplicate` gives no verdict on them (:data:`MIN_TOKENS_FOR_NEAR_DUP`).
2. :func:`tokenize`: NFKD, accents and Arabic/Hebrew vowel marks removed, case-folded words; each character
   of a script written without spaces (Chinese, Japanese, Thai, ...) is its own token, so the 3-token
   shingles become character trigrams there.
3. Each 3-token shingle is hashed with blake2b (8 bytes: stable across runs and machines, unlike
   ``hash()``). The top 6 bits put it in one of 64 bins; bit ``i`` of the fingerprint is the lowest
   bit of the smallest hash in bin ``i`` (one-permutation MinHash, 1 bit per bin). An empty bin (short
   texts) borrows the minimum of another bin along a fixed probe sequence ("optimal densification",
   Shrivastava 2017) and reads another bit of it. A text of fewer than :data:`MIN_TOKENS_FOR_NEAR_DUP`
   tokens, on which no verdict is given, gets a plain 64-bit hash of its tokens instead (cheaper; most
   feed summaries are that short).

Why MinHash bits and not Charikar's SimHash: both give 64 bits compared by Hamming distance, but a bit
differs with probability (1 - J) / 2 for MinHash (J = Jaccard similarity of the shingle sets), against
angle / pi for SimHash. For a copy sharing 98 % of its shingles that is 0.01 against ~0.05 per bit: at
the fixed threshold of 3 bits, SimHash misses about a third of such copies, MinHash almost none, while
different texts stay near 32 bits apart with both. ``tests/monitor/test_dedup.py`` prints the measured
distributions. The Article field keeps the usual name, ``simhash``.

The value is stored as a signed int64 (SQL BIGINT). :func:`bands` splits it into four 16-bit bands: two
fingerprints within 3 bits share at least one band (pigeonhole), so the store finds candidates with four
indexed equality lookups.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata

NEAR_DUPLICATE_MAX_DISTANCE: int = 3  # bits; also what the 4 x 16-bit bands can find (pigeonhole)
MIN_TOKENS_FOR_NEAR_DUP: int = 40  # below this, no verdict: a title plus a sentence is too short to judge
MAX_DEDUP_CHARS = 12_000  # the first ~2,000 words identify a text well enough and bound the cost

_MASK64 = (1 << 64) - 1
_SIGN_BIT = 1 << 63
_MIN_LINE_WORDS = 8  # shorter lines are datelines, bylines, captions, "Read more", share prompts
_BOILERPLATE_LINE_WORDS = 40  # a boilerplate marker only condemns a line shorter than this

# Scripts written without spaces between words: each character is a token.
_NO_SPACE = "\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_NO_SPACE_CHAR = re.compile(f"[{_NO_SPACE}]")
_TOKEN = re.compile(rf"[{_NO_SPACE}]|[^\W{_NO_SPACE}]+")
_ASCII_TOKEN = re.compile(r"\w+", re.ASCII)
# Marks that copies often differ by: Latin/Greek/Cyrillic diacritics (after NFKD), Hebrew points,
# Arabic harakat and tatweel.
_MARKS = re.compile("[\u0300-\u036f\u0591-\u05c7\u0610-\u061a\u0640\u064b-\u065f\u0670\u06d6-\u06ed]")
_BOILERPLATE = re.compile(
    r"©|\(c\)\s*\d{4}|copyright|all rights reserved|tous droits réservés|todos los derechos"
    r"|read more|read also|see also|related:|lire aussi|à lire|voir aussi|lesen sie auch|mehr zum thema"
    r"|leia também|leggi anche|lee también|sign up|subscribe|newsletter|abonnez-vous|inscrivez-vous"
    r"|follow us|suivez-nous|click here|cliquez ici|this article (?:was|first|originally)"
    r"|cet article a (?:été|d'abord)|photo ?:|credit ?:|crédit ?:",
)  # matched against the lower-cased line (faster than IGNORECASE)


def _probe_order(i: int) -> tuple[int, ...]:
    """The fixed order in which an empty bin ``i`` looks for a filled one (all 64 bins, pseudo-random)."""
    return tuple(sorted(range(64), key=lambda j: hashlib.blake2b(bytes((i, j)), digest_size=8).digest()))


_blake2b_64 = functools.partial(hashlib.blake2b, digest_size=8)
_digest = hashlib.blake2b.digest
_PROBES = tuple(_probe_order(i) for i in range(64))
_BINS = frozenset(range(64))


def tokenize(text: str) -> list[str]:
    """The comparison tokens of a text: accent-free, case-folded words; CJK/Thai characters one by one."""
    if text.isascii():  # most feeds: nothing to decompose
        return _ASCII_TOKEN.findall(text.lower())
    folded = _MARKS.sub("", unicodedata.normalize("NFKD", text)).casefold()
    return _TOKEN.findall(folded)


def token_count(text: str) -> int:
    """How many tokens the fingerprint sees in ``text``: the ``tokens`` argument of is_near_duplicate."""
    return len(tokenize(text))


def dedup_text(title: str, text: str) -> str:
    """What the fingerprint is computed on: the body without boilerplate lines; the title if it is short."""
    body = text[:MAX_DEDUP_CHARS]
    if "\n" not in body:  # one paragraph (most feed summaries): nothing to filter
        return body if _line_words(body) >= MIN_TOKENS_FOR_NEAR_DUP else f"{title}\n{body}".strip()
    kept: list[str] = []
    kept_words = 0
    for line in body.splitlines():
        words = _line_words(line)
        if words >= _MIN_LINE_WORDS and not (
            words < _BOILERPLATE_LINE_WORDS and _BOILERPLATE.search(line.lower())
        ):
            kept.append(line)
            kept_words += words
    if kept_words >= MIN_TOKENS_FOR_NEAR_DUP:
        return "\n".join(kept)
    if sum(map(_line_words, body.splitlines())) >= MIN_TOKENS_FOR_NEAR_DUP:
        return body
    return f"{title}\n{body}".strip()


def _line_words(line: str) -> int:
    """Words of a line: split on spaces, or counted as tokens in scripts written without spaces."""
    if _NO_SPACE_CHAR.search(line):
        return len(_TOKEN.findall(line))
    return len(line.split())


def simhash64(text: str) -> int:
    """The 64-bit fingerprint of ``text`` (1-bit MinHash of its 3-token shingles) as a signed int64.

    0 for a text without tokens. Stable across runs and machines (blake2b, not ``hash()``).
    """
    words = tokenize(text)
    if not words:
        return 0
    if len(words) < MIN_TOKENS_FOR_NEAR_DUP:  # no verdict on such texts: a plain hash is enough (and cheap)
        plain = int.from_bytes(hashlib.blake2b(" ".join(words).encode(), digest_size=8).digest(), "big")
        return plain - (1 << 64) if plain & _SIGN_BIT else plain
    shingles = map(str.encode, map(" ".join, zip(words, words[1:], words[2:], strict=False)))
    digests = sorted(map(_digest, map(_blake2b_64, shingles)), reverse=True)  # map: no Python-level loop
    smallest = {d[0] >> 2: d for d in digests}  # per bin (top 6 bits), the last written is the smallest
    value = 0
    for i, digest in smallest.items():
        value |= (digest[7] & 1) << i
    if len(smallest) < 64:
        value |= _densified(smallest)
    return value - (1 << 64) if value & _SIGN_BIT else value


def _densified(smallest: dict[int, bytes]) -> int:
    """The bits of the empty bins: each takes a bit of the first filled bin along its probe sequence.

    Bin ``i`` reads bit ``i mod 48`` of bytes 1..6 of its donor's hash: two texts that share the donor's
    minimum get the same bit, others independent ones (byte 0 chose the bin, byte 7 gave the donor's bit).
    """
    value = 0
    for i in _BINS.difference(smallest):
        for j in _PROBES[i]:
            if j in smallest:
                k = i % 48
                value |= ((smallest[j][1 + k // 8] >> (k % 8)) & 1) << i
                break
    return value


def hamming(a: int, b: int) -> int:
    """How many of the 64 bits differ (signed or unsigned inputs alike)."""
    return ((a ^ b) & _MASK64).bit_count()


def bands(h: int) -> tuple[int, int, int, int]:
    """The four 16-bit bands of a fingerprint: band i = (h >> 16*i) & 0xFFFF over the unsigned value."""
    u = h & _MASK64
    return (u & 0xFFFF, (u >> 16) & 0xFFFF, (u >> 32) & 0xFFFF, (u >> 48) & 0xFFFF)


def is_near_duplicate(a: int, b: int, tokens: int) -> bool:
    """True when the fingerprints are within NEAR_DUPLICATE_MAX_DISTANCE bits and the text is long enough.

    ``tokens`` is the :func:`token_count` of the new article's :func:`dedup_text`.
    """
    return tokens >= MIN_TOKENS_FOR_NEAR_DUP and hamming(a, b) <= NEAR_DUPLICATE_MAX_DISTANCE

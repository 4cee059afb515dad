"""Language identification with the bundled fastText model, and the choice between declared and detected."""

from __future__ import annotations

import threading

import pytest

from monitor import langid
from monitor.langid import (
    MAX_CHARS,
    MIN_CONFIDENCE,
    OVERRIDE_CONFIDENCE,
    choose_language,
    detect_language,
    language_code,
)

SENTENCES = {
    "en": "The police arrested several suspects on Monday after a two-year investigation into the network.",
    "fr": "La police a interpellé lundi plusieurs suspects au terme d'une enquête de deux ans sur ce réseau.",
    "de": "Die Polizei hat am Montag nach zweijährigen Ermittlungen mehrere Verdächtige festgenommen.",
    "es": "La policía detuvo el lunes a varios sospechosos tras una investigación de dos años sobre la red.",
    "ar": "اعتقلت الشرطة يوم الاثنين عدة مشتبه بهم بعد تحقيق استمر عامين في الشبكة الإجرامية.",
    "ru": "В понедельник полиция задержала нескольких подозреваемых после двухлетнего расследования.",
    "pt": "A polícia prendeu vários suspeitos na segunda-feira depois de uma investigação de dois anos.",
    "it": "La polizia ha arrestato lunedì diversi sospettati dopo un'indagine durata due anni sulla rete.",
    "nl": "De politie heeft maandag na een onderzoek van twee jaar meerdere verdachten aangehouden.",
    "zh": "警方在对该网络进行了两年的调查后，于周一逮捕了几名嫌疑人。",
    "ja": "警察は二年間の捜査の末、月曜日に複数の容疑者を逮捕した。",
}


@pytest.mark.parametrize(("expected", "sentence"), list(SENTENCES.items()), ids=list(SENTENCES))
def test_detects_languages(expected: str, sentence: str) -> None:
    code, confidence = detect_language(sentence)
    assert code == expected
    assert MIN_CONFIDENCE <= confidence <= 1.0


@pytest.mark.parametrize(
    "text",
    ["", "   \n  ", "12345 678 90", "2026-11-30 12:00:00 +01:00", "!!! ??? ...", "€ 1.000,00", "Paris"],
    ids=["empty", "whitespace", "digits", "timestamp", "punctuation", "amount", "one-ambiguous-word"],
)
def test_no_answer_when_unsure(text: str) -> None:
    assert detect_language(text) == (None, 0.0)


def test_newlines_and_shouting_do_not_matter() -> None:
    text = SENTENCES["fr"].replace(" ", "\n", 5)
    assert detect_language(text)[0] == "fr"
    assert detect_language(SENTENCES["de"].upper())[0] == "de"


def test_mixed_scripts_give_the_dominant_language() -> None:
    mostly_russian = f"{SENTENCES['ru']} Europol, Eurojust, FBI."
    assert detect_language(mostly_russian)[0] == "ru"
    mostly_english = f"{SENTENCES['en']} {SENTENCES['en']} 警方"
    assert detect_language(mostly_english)[0] == "en"


def test_long_texts_are_cut_before_detection() -> None:
    english_head = " ".join([SENTENCES["en"]] * 30)
    long_text = english_head + " " + " ".join([SENTENCES["es"]] * 300)
    assert len(english_head) > MAX_CHARS and len(long_text) > 10 * MAX_CHARS
    assert len(langid._prepare(long_text)) <= MAX_CHARS
    assert detect_language(long_text)[0] == "en"  # the Spanish tail, 90 % of the text, is never read


def test_the_model_loads_once_across_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(langid, "_detector", None)
    barrier = threading.Barrier(6)
    results: list[tuple[str | None, float]] = []
    detectors: list[object] = []

    def work() -> None:
        barrier.wait()
        results.append(detect_language(SENTENCES["it"]))
        detectors.append(langid._get_detector())

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [code for code, _ in results] == ["it"] * 6
    assert len({id(d) for d in detectors}) == 1


@pytest.mark.parametrize(
    ("tag", "code"),
    [
        ("fr", "fr"),
        ("fr-FR", "fr"),
        ("EN_us", "en"),
        ("zh-Hans-CN", "zh"),
        (" de ", "de"),
        ("auto", None),
        ("fra", None),
        ("", None),
        (None, None),
        ("x", None),
    ],
    ids=["code", "region", "underscore-upper", "script-region", "spaces", "auto", "three-letters", "empty",
         "none", "junk"],
)  # fmt: skip
def test_language_code(tag: str | None, code: str | None) -> None:
    assert language_code(tag) == code


LONG_EN = " ".join([SENTENCES["en"]] * 2)
LONG_FR = " ".join([SENTENCES["fr"]] * 2)


@pytest.mark.parametrize(
    ("declared", "item_language", "title", "text", "expected"),
    [
        (None, None, "", LONG_FR, "fr"),
        (None, None, "Arrestations à Paris", "", "fr"),
        (None, None, "", "", None),
        ("fr", None, "", "Police news", "fr"),
        ("fr", None, "", LONG_EN, "en"),
        ("en", None, "", LONG_EN, "en"),
        (None, "en-US", "", "Une brève", "en"),
        (None, "en-US", "", LONG_FR, "fr"),
        ("fr", "en", "", "Short", "fr"),
        ("auto", "de-DE", "", "Kurz", "de"),
    ],
    ids=[
        "auto-detects",
        "auto-detects-from-title",
        "nothing-to-detect",
        "short-keeps-declared",
        "long-contradicts-declared",
        "long-confirms-declared",
        "feed-language-for-short",
        "feed-language-corrected",
        "source-beats-feed",
        "auto-string-means-none",
    ],
)
def test_choose_language(
    declared: str | None, item_language: str | None, title: str, text: str, expected: str | None
) -> None:
    assert choose_language(declared, item_language, title, text) == expected


def test_override_needs_a_confident_detector() -> None:
    # Half English, half French: the detector is not sure enough to contradict the declared language.
    text = f"{SENTENCES['en']} {SENTENCES['fr']}"
    _code, confidence = detect_language(text)
    assert confidence < OVERRIDE_CONFIDENCE
    assert choose_language("de", None, "", text) == "de"

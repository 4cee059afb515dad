"""The gazetteer: packaged data, alias normalization, linking with its ambiguity guards, user files, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.errors import ConfigError
from summarizer.gazetteer import (
    ENTITY_TYPES,
    Gazetteer,
    GazetteerError,
    default_gazetteer,
    display_name,
    load_gazetteer,
    normalize_alias,
)

BRIEF_IDS = [
    "europol",
    "eurojust",
    "interpol",
    "frontex",
    "enisa",
    "olaf",
    "eppo",
    "fbi",
    "doj",
    "dhs",
    "cisa",
    "nca",
    "home-office",
    "bka",
    "bfv",
    "dgsi",
    "dgse",
    "gendarmerie",
    "police-nationale",
    "oclctic",
    "guardia-civil",
    "policia-nacional",
    "cni",
    "carabinieri",
    "un",
    "unodc",
    "unhcr",
    "un-security-council",
    "nato",
    "european-commission",
    "council-of-the-eu",
    "telegram",
    "facebook",
    "instagram",
    "whatsapp",
    "twitter",
    "youtube",
    "tiktok",
    "signal",
    "discord",
    "rocket-chat",
    "threema",
    "tamtam",
    "hoop",
    "element-matrix",
    "sky-ecc",
    "encrochat",
    "anom",
    "isis",
    "al-qaeda",
    "aqap",
    "aqim",
    "al-shabaab",
    "boko-haram",
    "iswap",
    "hts",
    "hamas",
    "hezbollah",
    "pkk",
    "taliban",
    "wagner",
    "syria",
    "iraq",
    "afghanistan",
    "sahel",
    "lockbit",
    "alphv",
    "cl0p",
    "conti",
]


@pytest.fixture(scope="module")
def gazetteer() -> Gazetteer:
    return default_gazetteer()


def test_packaged_gazetteer_covers_the_domain(gazetteer: Gazetteer) -> None:
    assert len(gazetteer) >= 80
    assert [i for i in BRIEF_IDS if i not in gazetteer] == []
    assert {e.type for e in gazetteer} == set(ENTITY_TYPES)
    for main in ("europol", "interpol", "isis", "al-qaeda", "telegram", "facebook", "hamas", "un"):
        entity = gazetteer.get(main)
        assert entity is not None and {"en", "fr", "de", "es", "ar"} <= set(entity.labels), main


@pytest.mark.parametrize(
    ("one", "other", "lang"),
    [
        ("«Daech»", "Daech", "fr"),
        ("l’État islamique", "Etat Islamique", "fr"),
        ("The FBI", "FBI", "en"),
        ("die Hamas", "Hamas", "de"),
        ("El Estado Islámico", "estado islamico", "es"),
        ("al-Qaïda", "Al Qaida", "fr"),
        ("Al‑Qaida", "al – Qaida", "de"),  # non-breaking hyphen, spaced en dash
        ("U.S.", "US", "en"),
        ("Europol's", "Europol", "en"),
        ("ISLAMISCHER  STAAT", "Islamischer Staat", "de"),
        ("Straße", "strasse", "de"),
        ("الدَّوْلَة الإسلاميّة", "الدولة الاسلامية", "ar"),  # harakat, hamza on alef
        ("داعـــش", "داعش", "ar"),  # tatweel
        ("بالقاعدة", "القاعدة", "ar"),
        ("والقاعدة", "القاعدة", "ar"),
        ("للقاعدة", "القاعدة", "ar"),
        ("The Times", "Times", "fr"),  # English "the" in any language
    ],
    ids=lambda v: str(v),
)
def test_normalize_alias_unifies_spellings(one: str, other: str, lang: str) -> None:
    assert normalize_alias(one, lang) == normalize_alias(other, lang) != ""


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        ("Le Monde", "fr", "monde"),  # the article goes in the language it belongs to...
        ("Le Monde", "en", "le monde"),  # ...and stays elsewhere
        ("al-Shabaab", "en", "al shabaab"),  # the "al" of a transliterated name is part of it
        ("« »", "fr", ""),
        ("the", "en", "the"),  # an article alone is not dropped
    ],
)
def test_normalize_alias_keeps_what_is_part_of_the_name(text: str, lang: str, expected: str) -> None:
    assert normalize_alias(text, lang) == expected


LINKS = [
    ("Daech", "fr", "isis"),
    ("Daesh", "en", "isis"),
    ("ISIL", "en", "isis"),
    ("IS", "en", "isis"),
    ("IS", "de", "isis"),
    ("l'EI", "fr", "isis"),
    ("EI", "es", "isis"),
    ("the Islamic State", "en", "isis"),
    ("Islamischen Staates", "de", "isis"),
    ("Estado Islámico", "es", "isis"),
    ("داعش", "ar", "isis"),
    ("الدولة الإسلامية", "ar", "isis"),
    ("وداعش", "ar", "isis"),
    ("لداعش", "ar", "isis"),
    ("بالقاعدة", "ar", "al-qaeda"),
    ("al-Qaïda", "fr", "al-qaeda"),
    ("Al-Kaida", "de", "al-qaeda"),
    ("يوروبول", "ar", "europol"),
    ("EUROPOL", "es", "europol"),
    ("Telegram", "fr", "telegram"),
    ("تيليغرام", "ar", "telegram"),
    ("وفيسبوك", "ar", "facebook"),  # ف is a root letter of فيسبوك, و a conjunction
    ("the FBI", "en", "fbi"),
    ("Europol", None, "europol"),
    ("Europol", "zz", "europol"),
    # the ambiguity guards
    ("is", "en", None),
    ("it is", "en", None),
    ("EI", "en", None),
    ("UN", "fr", None),
    ("un", "fr", None),
    ("X", "en", None),  # only near words that make it the platform
    ("X-ray", "en", None),
    ("telegram", "en", None),
    ("Home Office", "de", None),  # German for working from home
    ("Signal", "en", None),
    ("IS", None, None),  # "IS" is limited to English and German texts
]


@pytest.mark.parametrize(("text", "lang", "expected"), LINKS, ids=[f"{t}-{lg}" for t, lg, _ in LINKS])
def test_link(gazetteer: Gazetteer, text: str, lang: str | None, expected: str | None) -> None:
    ref = gazetteer.link(text, lang)
    assert (ref.id if ref else None) == expected


@pytest.mark.parametrize(
    ("text", "lang", "context", "expected"),
    [
        ("X", "en", "Elon Musk's platform X suspended the accounts", "twitter"),
        ("X", "fr", "Le réseau social X a supprimé les comptes", "twitter"),
        ("X", "en", "Malcolm X spoke in Harlem", None),
        ("IS", "en", "the FBI said IS claimed the attack", "isis"),
        ("IS", "en", "IT IS TIME TO ACT", None),
        ("EI", "fr", "L'EI REVENDIQUE L'ATTAQUE", None),
        ("Signal", "en", "they moved to the encrypted messaging app Signal", "signal"),
        ("Wagner", "fr", "les mercenaires de Wagner au Mali", "wagner"),
        ("Wagner", "de", "Richard Wagner komponierte den Ring", None),
    ],
)
def test_link_in_context(
    gazetteer: Gazetteer, text: str, lang: str, context: str, expected: str | None
) -> None:
    ref = gazetteer.link(text, lang, context)
    assert (ref.id if ref else None) == expected


def test_reference_carries_the_name_in_the_language_asked(gazetteer: Gazetteer) -> None:
    assert gazetteer.link("Daech", "ar") == gazetteer.link("ISIS", "ar")
    ref = gazetteer.link("Daech", "de")
    assert ref is not None and (ref.type, ref.name) == ("group", "Islamischer Staat")
    entity = gazetteer.get("isis")
    assert entity is not None and entity.name("pt") == "Islamic State"  # English when there is no label


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_user_file_adds_and_replaces_entities(tmp_path: Path) -> None:
    user = _write(
        tmp_path / "mine.yaml",
        "entities:\n"
        "  - id: ghostchat\n"
        "    type: platform\n"
        "    labels: {en: GhostChat, ar: غوست شات}\n"
        "    aliases: [Ghost Chat, {text: GC, langs: [en]}]\n"
        "  - id: europol\n"
        "    type: agency\n"
        "    labels: {en: Europol}\n"
        "    aliases: [European Police Office]\n",
    )
    packaged = default_gazetteer()
    merged = load_gazetteer(user)
    assert len(merged) == len(packaged) + 1
    assert [merged.link(t, "en").id for t in ("ghostchat", "Ghost-Chat", "GC", "European Police Office")] == [  # type: ignore[union-attr]
        "ghostchat"
    ] * 3 + ["europol"]
    assert merged.link("GC", "fr") is None and merged.link("وغوست شات", "ar") is not None
    assert (
        merged.link("Office européen de police", "fr") is None
    )  # the user's entry replaced the packaged one
    assert merged.get("ghostchat") is not None and merged.get("ghostchat").origin == f"{user}:2"  # type: ignore[union-attr]


def _problem(tmp_path: Path, text: str) -> str:
    path = _write(tmp_path / "bad.yaml", text)
    with pytest.raises(GazetteerError) as caught:
        load_gazetteer(path)
    assert isinstance(caught.value, ConfigError)  # the CLI reports configuration errors the same way
    return str(caught.value)


ENTRY = "entities:\n  - id: ghost\n    type: platform\n    labels: {en: Ghost}\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (ENTRY + "    alias: [Spook]\n",
         ["bad.yaml:5", "entities[0].alias (id=ghost): unknown key", "did you mean 'aliases'"]),
        (ENTRY + "    aliases: [{text: Spook, lang: [en]}]\n", ["bad.yaml:5", "unknown key", "did you mean 'langs'"]),
        (ENTRY.replace("platform", "platfrom"), ["bad.yaml:3", "entities[0].type", "use one of agency, platform"]),
        (ENTRY.replace("id: ghost", "id: Ghost App"), ["bad.yaml:2", "lowercase letters, digits"]),
        (ENTRY.replace("{en: Ghost}", "{english: Ghost}"), ["bad.yaml:4", "labels.english", "ISO 639-1"]),
        (ENTRY.replace("{en: Ghost}", "{}"), ["bad.yaml:4", "labels", "at least 1 item"]),
        (ENTRY + "    aliases: [{text: G, case_sensitive: maybe}]\n", ["bad.yaml:5", "case_sensitive"]),
        (ENTRY + "    aliases: [« »]\n", ["bad.yaml:2", "'« »' is not a name"]),
        (ENTRY + ENTRY.removeprefix("entities:\n"), ["bad.yaml:5", "duplicate id 'ghost' (also at", "bad.yaml:2"]),
        (ENTRY + "    aliases: [Daech]\n",
         ["bad.yaml:2", "entity 'ghost': alias 'Daech' also names 'isis'", "entities.yaml:"]),
        ("entities:\n  - id: ghost\n    labels: {en: Ghost}\n", ["bad.yaml:2", "type", "Field required"]),
        ("", ["bad.yaml:1", "the file is empty"]),
        ("entities:\n  - id: [ghost\n", ["bad.yaml:", "YAML error"]),
        ("sources: []\n", ["bad.yaml:1", "unknown key", "allowed keys: entities"]),
    ],
    ids=[
        "unknown-key", "unknown-alias-key", "bad-type", "bad-id", "bad-lang", "no-label", "not-a-bool",
        "empty-name", "duplicate-id", "alias-conflict", "missing-type", "empty-file", "yaml-syntax", "wrong-root",
    ],
)  # fmt: skip
def test_invalid_files_are_reported_with_file_line_and_fix(
    tmp_path: Path, text: str, expected: list[str]
) -> None:
    message = _problem(tmp_path, text)
    for part in expected:
        assert part in message


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    message = _problem(tmp_path, ENTRY.replace("platform", "app") + "    colour: red\n")
    assert "2 problems" in message and "bad.yaml:3" in message and "bad.yaml:5" in message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(GazetteerError, match=r"nowhere\.yaml: file not found"):
        load_gazetteer(tmp_path / "nowhere.yaml")


def test_aliases_may_share_a_name_in_languages_that_do_not_overlap(tmp_path: Path) -> None:
    user = _write(
        tmp_path / "mine.yaml", ENTRY + "    aliases: [{text: EI, case_sensitive: true, langs: [en]}]\n"
    )
    merged = load_gazetteer(user)
    assert [(r.id if r else None) for r in (merged.link("EI", "en"), merged.link("EI", "fr"))] == [
        "ghost",
        "isis",
    ]


def test_display_names_never_show_internal_keys() -> None:
    gazetteer = default_gazetteer()
    assert display_name("isis", gazetteer, "fr") == "État islamique"
    assert display_name("unk:place:france", gazetteer, "en") == "France"
    assert display_name("unk:person:jean dupont", None) == "Jean Dupont"
    assert display_name("unk:org:iPhone Labs", None) == "iPhone Labs"  # written with capitals: kept as it is

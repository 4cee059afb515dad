"""Near-duplicate fingerprints: copies within 3 bits, different stories far apart, no verdict on short texts.

The press releases and dispatches below were written for these tests (no real text is copied).
"""

from __future__ import annotations

import itertools
import json
import statistics
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.dedup import (
    MIN_TOKENS_FOR_NEAR_DUP,
    NEAR_DUPLICATE_MAX_DISTANCE,
    bands,
    dedup_text,
    hamming,
    is_near_duplicate,
    simhash64,
    token_count,
    tokenize,
)
from tests.conftest import shared_data

EUROPOL_FRAUD = """\
Police and judicial authorities from six countries, supported by Europol and Eurojust, have dismantled a \
criminal network behind a large investment fraud scheme that targeted thousands of victims across Europe.
The suspects ran call centres in two countries where employees posed as financial advisers and persuaded \
victims to invest in fake trading platforms for cryptocurrencies and commodities. Victims were first asked \
for small amounts and were shown fabricated profits on their online accounts, before being pushed to \
transfer their savings.
On the action day, 14 suspects were arrested and 22 premises were searched. Investigators seized cash, \
luxury watches, three vehicles and electronic equipment, and froze bank accounts holding several million euro.
The losses are estimated at more than 30 million euro. The money was laundered through a chain of shell \
companies and cryptocurrency exchanges before being withdrawn in cash.
Europol coordinated the exchange of information, provided analytical support and deployed two experts to \
the field to cross-check operational information against its databases.
"""

EUROPOL_DRUGS = """\
Law enforcement authorities from five countries, supported by Europol, have taken down an organised crime \
group that trafficked large quantities of cocaine from South America to European ports hidden in fruit \
containers.
The criminal network used encrypted phones to arrange the shipments and relied on corrupt port workers to \
extract the drugs from the containers before customs inspections. The cocaine was then stored in rented \
warehouses and distributed to wholesale buyers in several countries.
During a series of coordinated raids, 31 suspects were arrested and 40 locations were searched. Officers \
seized four tonnes of cocaine, firearms, ammunition, 2.5 million euro in cash and a number of properties \
bought with the proceeds of crime.
The investigation started two years ago after a large seizure in a northern European port, which revealed \
links between several trafficking groups.
Europol facilitated the information exchange, organised operational meetings and provided financial \
intelligence and forensic support to the national investigators.
"""

WIRE_FLOODS = """\
Heavy rain caused severe flooding across the south of the country on Sunday, forcing thousands of \
residents to leave their homes and cutting off dozens of villages, the civil protection agency said.
Rescue teams used boats and helicopters to evacuate people trapped on the roofs of their houses, while \
several rivers burst their banks after more than 200 millimetres of rain fell in less than a day.
At least four people were killed and six others are missing, the interior ministry said in a statement, \
adding that the toll could rise as emergency services reached isolated areas.
Train services between the two largest cities in the region were suspended and several motorways were \
closed because of landslides. Around 40,000 homes were left without electricity.
The prime minister, who visited one of the worst hit towns, promised emergency funding for the affected \
municipalities and said the army would help with the clean-up.
Meteorologists warned that more storms were expected over the coming days.
"""

FR_DISPATCH = """\
Une vaste opération de police menée dans plusieurs pays européens a permis de démanteler un réseau \
soupçonné d'avoir organisé l'entrée illégale de centaines de migrants, a annoncé jeudi le parquet.
Les passeurs faisaient payer jusqu'à 8 000 euros par personne pour un voyage en camion ou en bateau \
pneumatique, dans des conditions jugées extrêmement dangereuses par les enquêteurs.
Au total, 19 personnes ont été interpellées au cours de perquisitions simultanées. Les enquêteurs ont saisi \
des téléphones, des documents d'identité falsifiés et près de 300 000 euros en espèces.
L'enquête avait été ouverte il y a dix-huit mois après la découverte d'un groupe de migrants dans un \
camion frigorifique sur une aire d'autoroute.
"""

ARABIC = (
    "أعلنت الشرطة الأوروبية يوم الثلاثاء أن قوات الأمن في ستة بلدان اعتقلت اثني عشر مشتبها بهم في عملية "
    "منسقة ضد شبكة إجرامية. وتتهم الشبكة بغسل أموال ناتجة عن عمليات احتيال في الاستثمار عبر الإنترنت "
    "باستخدام منصات تداول العملات المشفرة. وقال المحققون إن الضحايا ينتشرون في عدة دول أوروبية وإن الخسائر "
    "تتجاوز ثلاثين مليون يورو. وفتشت الشرطة أكثر من عشرين منزلا وصادرت أموالا نقدية وساعات فاخرة وأجهزة "
    "إلكترونية."
)
CHINESE = (
    "欧洲刑警组织周二宣布，六个国家的警方在一次联合行动中逮捕了十二名嫌疑人。该犯罪网络涉嫌通过加密货币交易"
    "平台清洗网络投资诈骗所得的资金。调查人员表示，受害者遍布欧洲多个国家，损失总额超过三千万欧元。警方在行动"
    "中搜查了二十多处住所，查获了大量现金、奢侈手表和电子设备。"
)
CHINESE_OTHER = (
    "国家气象部门发布暴雨橙色预警，预计未来三天南方多个省份将出现强降雨天气。专家提醒居民注意防范山洪和城市"
    "内涝，尽量减少外出。交通部门表示，部分航班和列车可能延误或取消，请旅客提前关注出行信息。"
)

LONG_TEXTS = {"fraud": EUROPOL_FRAUD, "drugs": EUROPOL_DRUGS, "floods": WIRE_FLOODS, "fr": FR_DISPATCH}


def fingerprint(title: str, text: str) -> int:
    return simhash64(dedup_text(title, text))


def syndicated(text: str) -> str:
    """A wire copy as another outlet runs it: a dateline, a byline, a 'read more' line, a copyright line."""
    paragraphs = text.strip().split("\n")
    return "\n".join(
        [
            "By Staff Writer",
            f"PARIS (AFP) - {paragraphs[0]}",
            *paragraphs[1:2],
            "Read more: our coverage of the story and what it means for you",
            *paragraphs[2:],
            "© 2026 AFP. All rights reserved.",
        ]
    )


def with_words_changed(text: str, count: int) -> str:
    words = text.split(" ")
    step = len(words) // (count + 1)
    for k in range(1, count + 1):
        words[k * step] = "changed"
    return " ".join(words)


def with_sentence_added(text: str) -> str:
    paragraphs = text.strip().split("\n")
    middle = len(paragraphs) // 2
    added = "A spokesperson did not immediately respond to a request for comment on Monday evening."
    paragraphs[middle] = f"{paragraphs[middle]} {added}"
    return "\n".join(paragraphs)


def without_last_paragraph(text: str) -> str:
    return "\n".join(text.strip().split("\n")[:-1])


def test_a_syndicated_wire_copy_with_another_title_is_a_near_duplicate() -> None:
    original = fingerprint("Floods force thousands from their homes", WIRE_FLOODS)
    copy_text = dedup_text("Deadly floods: four dead, six missing in the south", syndicated(WIRE_FLOODS))
    copy = simhash64(copy_text)
    assert hamming(original, copy) <= NEAR_DUPLICATE_MAX_DISTANCE
    assert is_near_duplicate(original, copy, token_count(copy_text))


def test_two_press_releases_on_the_same_topic_are_not_near_duplicates() -> None:
    fraud = dedup_text("Investment fraud network dismantled", EUROPOL_FRAUD)
    drugs = fingerprint("Cocaine trafficking network taken down", EUROPOL_DRUGS)
    assert hamming(simhash64(fraud), drugs) > 3 * NEAR_DUPLICATE_MAX_DISTANCE
    assert not is_near_duplicate(simhash64(fraud), drugs, token_count(fraud))


def test_short_texts_get_no_verdict() -> None:
    title, text = "Europol: 14 arrests", "Fourteen suspects were arrested in an investment fraud case."
    short = dedup_text(title, text)
    assert token_count(short) < MIN_TOKENS_FOR_NEAR_DUP
    same = simhash64(short)
    assert hamming(same, simhash64(short)) == 0
    assert not is_near_duplicate(same, simhash64(short), token_count(short))


def test_the_title_only_counts_for_short_bodies() -> None:
    assert dedup_text("Any title", EUROPOL_FRAUD) == EUROPOL_FRAUD.strip()
    assert dedup_text("Any title", "Short body.") == "Any title\nShort body."


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("By Staff Writer\n" + WIRE_FLOODS, False),
        (WIRE_FLOODS + "Read more: the full story of the floods on our website today", False),
        (WIRE_FLOODS + "© 2026 Agence France-Presse. All rights reserved.", False),
        (WIRE_FLOODS + "Sign up for our daily newsletter to get the news every morning", False),
        (WIRE_FLOODS + "Abonnez-vous à notre newsletter pour recevoir toute l'actualité", False),
    ],
    ids=["byline", "read-more", "copyright", "newsletter", "newsletter-fr"],
)
def test_boilerplate_lines_are_left_out(text: str, kept: bool) -> None:
    extra = set(text.split("\n")) - set(WIRE_FLOODS.split("\n"))
    assert extra
    assert any(line in dedup_text("t", text).split("\n") for line in extra) is kept
    assert fingerprint("t", text) == fingerprint("other title", WIRE_FLOODS)


@pytest.mark.parametrize(
    ("original", "copy", "different"),
    [
        (ARABIC, "المصدر: وكالات\n" + ARABIC.replace("الشرطة", "الشُّرْطَة"), CHINESE),
        (CHINESE, "本文来源：新华网\n" + CHINESE.replace("。", "！", 1), CHINESE_OTHER),
        (FR_DISPATCH, FR_DISPATCH.replace("é", "e").upper(), WIRE_FLOODS),
    ],
    ids=["arabic-vowel-marks-and-source-line", "chinese-character-trigrams", "accents-and-case"],
)
def test_any_script(original: str, copy: str, different: str) -> None:
    assert token_count(dedup_text("t", original)) >= MIN_TOKENS_FOR_NEAR_DUP
    assert hamming(fingerprint("t", original), fingerprint("other", copy)) <= NEAR_DUPLICATE_MAX_DISTANCE
    assert hamming(fingerprint("t", original), fingerprint("t", different)) > 3 * NEAR_DUPLICATE_MAX_DISTANCE


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("L'Opération «Daech», ÉTÉ 2017!", ["l", "operation", "daech", "ete", "2017"]),
        ("欧洲刑警 Europol", ["欧", "洲", "刑", "警", "europol"]),
        ("الشُّرْطَة الأوروبية", ["الشرطة", "الاوروبية"]),
        ("", []),
    ],
    ids=["latin", "cjk-characters", "arabic-marks", "empty"],
)
def test_tokenize(text: str, tokens: list[str]) -> None:
    assert tokenize(text) == tokens


def test_fingerprint_is_stable_across_runs_and_machines() -> None:
    """Stored fingerprints are compared with new ones: the definition must never drift (no hash())."""
    assert simhash64(EUROPOL_FRAUD) == simhash64(EUROPOL_FRAUD)
    assert simhash64(EUROPOL_FRAUD) == 2130012441388806626
    assert simhash64("") == 0


@given(st.text(max_size=400))
@settings(max_examples=200, deadline=None)
def test_fingerprint_fits_a_signed_bigint(text: str) -> None:
    assert -(2**63) <= simhash64(text) < 2**63


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [
        (0, 0, 0),
        (0, 1, 1),
        (0b1011, 0b0000, 3),
        (-1, 0, 64),
        (-1, 2**64 - 1, 0),
        (-(2**63), 2**63, 0),
        (2**63 - 1, -(2**63), 64),
    ],
    ids=["equal", "one-bit", "three-bits", "all-bits", "signed-unsigned-same", "sign-bit", "complement"],
)
def test_hamming(a: int, b: int, distance: int) -> None:
    assert hamming(a, b) == distance


@pytest.mark.parametrize(
    ("h", "expected"),
    [
        (0, (0, 0, 0, 0)),
        (0x1234_5678_9ABC_DEF0, (0xDEF0, 0x9ABC, 0x5678, 0x1234)),
        (-1, (0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF)),
        (-(2**63), (0, 0, 0, 0x8000)),
    ],
    ids=["zero", "positive", "minus-one", "min-int64"],
)
def test_bands(h: int, expected: tuple[int, int, int, int]) -> None:
    assert bands(h) == expected


@given(st.integers(-(2**63), 2**63 - 1), st.sets(st.integers(0, 63), max_size=3))
def test_within_three_bits_one_band_is_shared(h: int, flips: set[int]) -> None:
    other = h
    for bit in flips:
        other ^= 1 << bit
    other = other - 2**64 if other >= 2**63 else other
    assert hamming(h, other) == len(flips)
    assert any(x == y for x, y in zip(bands(h), bands(other), strict=True))


def test_distance_distribution_justifies_the_threshold() -> None:
    """Copies and edits of ~200-word texts against different texts, all written for this test.

    A bit differs with probability (1 - J) / 2, J the Jaccard similarity of the 3-word shingles: a
    syndicated copy (boilerplate lines left out) keeps J near 1; two changed words make J ~0.94 (about
    2 bits); an added sentence or a dropped paragraph is an edit (J ~0.85 and below) that the 3-bit
    threshold is not meant to catch; different texts stay near 32 bits apart, far beyond it.
    """
    variants: dict[str, Callable[[str], tuple[str, str]]] = {
        "syndicated": lambda t: ("Another title", syndicated(t)),
        "2 words changed": lambda t: ("Title", with_words_changed(t, 2)),
        "sentence added": lambda t: ("Title", with_sentence_added(t)),
        "last para dropped": lambda t: ("Title", without_last_paragraph(t)),
    }
    distances = {
        name: [hamming(fingerprint("Title", text), fingerprint(*make(text))) for text in LONG_TEXTS.values()]
        for name, make in variants.items()
    }
    different = [
        hamming(fingerprint("t", a), fingerprint("t", b))
        for a, b in itertools.combinations([*LONG_TEXTS.values(), ARABIC, CHINESE, CHINESE_OTHER], 2)
    ]
    print(f"\nHamming distances (near-duplicate threshold: {NEAR_DUPLICATE_MAX_DISTANCE} bits)")
    for name, values in distances.items():
        print(f"  {name:18} {values}")
    print(
        f"  different texts    min {min(different)}, median {statistics.median(different)}:",
        sorted(different),
    )
    assert max(distances["syndicated"]) <= NEAR_DUPLICATE_MAX_DISTANCE
    assert statistics.median(distances["2 words changed"]) <= NEAR_DUPLICATE_MAX_DISTANCE
    assert min(different) > 3 * NEAR_DUPLICATE_MAX_DISTANCE


def _shingles(text: str) -> set[tuple[str, ...]]:
    words = tokenize(dedup_text("", text))
    return set(zip(words, words[1:], words[2:], strict=False))


def test_real_articles_wire_copies_and_precision() -> None:
    """Real source articles of Wikinews stories (several outlets per story).

    The PA dispatch that breakingnews.iol.ie and The Scotsman both ran (other titles, datelines and
    bylines) is found; and every pair the threshold calls near-duplicate really shares most of its
    shingles (exact Jaccard similarity, computed independently).
    """
    path = shared_data("stories", "wikinewssum-sample", "endataset.json")
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    enough = MIN_TOKENS_FOR_NEAR_DUP
    sources = [s for r in records for s in r["sources"] if token_count(s["maintext"]) >= enough]
    by_url = {s["url"]: s for s in sources}
    iol = by_url["http://breakingnews.iol.ie/entertainment/story.asp?j=102401900&p=yxz4xz48x"]
    scotsman = by_url["http://news.scotsman.com/latest.cfm?id=3775873"]
    assert iol["title"] != scotsman["title"] and iol["maintext"] != scotsman["maintext"]
    first = dedup_text(iol["title"], iol["maintext"])
    second = fingerprint(scotsman["title"], scotsman["maintext"])
    assert is_near_duplicate(simhash64(first), second, token_count(first))

    texts = sorted({s["maintext"] for s in sources})
    prints = [fingerprint("", t) for t in texts]
    distances: list[int] = []
    for i, j in itertools.combinations(range(len(texts)), 2):
        distance = hamming(prints[i], prints[j])
        distances.append(distance)
        if distance <= NEAR_DUPLICATE_MAX_DISTANCE:
            a, b = _shingles(texts[i]), _shingles(texts[j])
            assert len(a & b) / len(a | b) >= 0.7, (texts[i][:80], texts[j][:80])
    near = sum(d <= NEAR_DUPLICATE_MAX_DISTANCE for d in distances)
    print(f"\n{len(texts)} distinct real texts, {len(distances)} pairs: {near} within the threshold;")
    others = [d for d in distances if d > NEAR_DUPLICATE_MAX_DISTANCE]
    print(f"  distances of the others: min {min(others)}, median {statistics.median(others)}")

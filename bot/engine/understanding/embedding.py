"""Sentence embeddings from the model inside the ``wordllama`` wheel — never downloaded.

wordllama's default ``WordLlama.load()`` looks for the tokenizer under
``~/.cache/wordllama`` and then tries Hugging Face; the wheel carries both files in its
own package folder, so it is loaded with ``cache_dir`` set there and downloads
disabled. A missing file is a clear error, never a network call. Loaded once per
process (about 0.5 s, ~30 MB); embedding a message takes tens of microseconds on a CPU.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from bot.errors import ConfigError

Vectors = npt.NDArray[np.float32]
"""One unit-length row per text."""

MODEL_CONFIG = "l2_supercat"
MODEL_DIM = 256


class _Model(Protocol):
    tokenizer: Any

    def embed(self, texts: list[str], norm: bool = ..., batch_size: int = ...) -> Any: ...


def package_folder() -> Path:
    """The installed ``wordllama`` package folder, which holds ``weights/`` and
    ``tokenizers/`` — the ``cache_dir`` that makes loading offline."""
    import wordllama

    return Path(wordllama.__file__).resolve().parent


@functools.cache
def model() -> _Model:
    """The embedding model of this process, loaded on first use (two threads racing to
    load it first would load it twice, harmlessly; every later call is a cache hit)."""
    from wordllama import WordLlama

    try:
        loaded: _Model = WordLlama.load(
            MODEL_CONFIG, cache_dir=package_folder(), dim=MODEL_DIM, disable_download=True
        )
    except (FileNotFoundError, OSError) as exc:
        raise ConfigError(
            f"the sentence-embedding model inside the wordllama package could not be "
            f"loaded ({exc}); reinstall supportbot's dependencies"
        ) from exc
    return loaded


def embed(texts: Sequence[str]) -> Vectors:
    """Unit-length embeddings of ``texts`` (an empty text embeds as zeros)."""
    if not texts:
        return np.zeros((0, MODEL_DIM), dtype=np.float32)
    vectors = np.asarray(model().embed(list(texts), norm=True), dtype=np.float32)
    return np.nan_to_num(vectors, copy=False)


@functools.lru_cache(maxsize=4096)
def is_whole_token(word: str) -> bool:
    """Whether the model's tokenizer knows ``word`` as one token: a common word in its own
    right (its 32,000-piece vocabulary splits misspellings and rare words into pieces)."""
    return len(model().tokenizer.encode(word, add_special_tokens=False).ids) == 1

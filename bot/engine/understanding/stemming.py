"""Words reduced to their stems, so "charged", "charging" and "charges" count as one word.

Ten examples of a flow seldom use every form of its key words: a trigger says "i was
charged twice" and the customer writes "why am i being charged" or "extra charges". The
word TF-IDF counts exact words, so each form is a column of its own that the few examples
may never have filled; the stem ("charg") is one column. Snowball's English stemmer
(Porter 2) from ``PyStemmer``, the Snowball project's C build: under 1 MiB of a worker's
memory, where the pure-Python ``snowballstemmer`` imports 36 languages' tables (3 MiB) —
and the flows, the small-talk classes and the sentence-embedding model are English
already. Measured on BANKING77's held-out training messages, not its test set
(docs/ROUTING.md).
"""

from __future__ import annotations

import functools
import threading

import Stemmer  # type: ignore[import-not-found]  # a C extension without type stubs

_STEMMER = Stemmer.Stemmer("english")
_LOCK = threading.Lock()
"""A Snowball stemmer keeps the word it is working on in itself: one word at a time."""


@functools.lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """The stem of a lower-case word ("cards" → "card", "declined" → "declin")."""
    with _LOCK:
        result: str = _STEMMER.stemWord(word)
    return result

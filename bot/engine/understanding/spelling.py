"""Misspelt words put right against the words the flows' examples use.

A customer's "passwrd" or "acount" is a word no trigger contains, so the word TF-IDF
ignores it and the sentence embedding sees unrelated sub-word pieces; only the character
n-grams still catch part of it. The catalog's own vocabulary is the dictionary: a word
of four letters or more that no example uses, and that is one edit (two, for a word of
eight letters or more) from words the examples do use, is read as the most common of
those. Words of the examples, numbers and order codes are never changed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable

from rapidfuzz import process
from rapidfuzz.distance import DamerauLevenshtein

SHORTEST = 4
"""Shorter words are left alone: one edit turns "card" into "cart"."""
LONG = 8
"""From this length on, two edits still make the same word."""


class Speller:
    """Corrects words of normalised text towards a fixed vocabulary."""

    def __init__(self, texts: Iterable[str], is_word: Callable[[str], bool]) -> None:
        """``texts``: normalised example texts (lower-case words separated by spaces);
        ``is_word``: whether a word is a common word in its own right ("blocked", "were"),
        which is never taken for a misspelling of a near one ("locked", "where")."""
        self._is_word = is_word
        counts = Counter(word for text in texts for word in text.split())
        self._known = frozenset(counts)
        # most common first: of two words equally near, the more common is taken
        self._choices = [w for w, _ in counts.most_common() if len(w) >= SHORTEST - 1]

    def correct(self, text: str) -> str:
        """``text`` with each unknown alphabetic word replaced by its nearest known word."""
        return " ".join(self._word(word) for word in text.split())

    def _word(self, word: str) -> str:
        if word in self._known or len(word) < SHORTEST or not word.isalpha():
            return word
        if self._is_word(word):
            return word
        limit = 2 if len(word) >= LONG else 1
        found = process.extractOne(
            word, self._choices, scorer=DamerauLevenshtein.distance, score_cutoff=limit
        )
        return word if found is None else str(found[0])

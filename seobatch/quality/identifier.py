"""py3langid's scores, the same numbers at a fraction of the cost (the gate's hot spot).

py3langid (0.4) scores a text in three steps: its UTF-8 bytes are walked through a DFA
whose states stand for the byte n-grams ending there; each state met, weighed by the
log of its count, adds its row of a (states × languages) float16 table; a softmax over
the languages gives the probabilities. On a reply of 150 bytes two costs dominated:

- **the walk** is a Python loop per byte. Replies are made of words the site uses again
  and again, so the walk goes a space-separated piece at a time, memoised on (state
  before, piece): the same states in the same order (a DFA step depends on nothing else);
- **the float16 table**: numpy has no float16 matrix product, so each call converted
  the rows it gathered (70 × 142 values) before multiplying. Rows are converted to
  float32 once, when first used, into a table of that precision (``np.empty``: pages no
  row was written to cost no memory; at most the model's 57 MB once every row is used).
  A float16 → float32 conversion is exact, so the products are py3langid's own.

``tests/quality/test_identifier.py`` holds these scores equal to py3langid's
``_decide`` on replies of every script. A py3langid without those internals gets its
own (slower) ``_decide``.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from typing import Any

import numpy as np

try:
    from collections import _count_elements  # type: ignore[attr-defined]  # Counter's C helper
except ImportError:  # pragma: no cover - another Python: Counter's own path

    def _count_elements(mapping: dict[int, int], iterable: list[int]) -> None:
        mapping.update(Counter(iterable))

#: (state, piece) → (state after the piece and its space, n-gram states met): entries kept
#: at most (about 10 MB); a full memo starts again (a night's vocabulary refills it).
_MEMO_ENTRIES = 1 << 15
#: Longer pieces (a URL, a run without spaces) are walked, not remembered.
_MEMO_PIECE_BYTES = 40


class FastScorer:
    """``decide(text)``: what ``identifier._decide(text)`` returns, for an identifier made
    with ``norm_probs=True``. Safe to share between threads (the results stage's two
    lanes): the memo only gains entries, and a row is marked converted after it is."""

    def __init__(self, identifier: Any) -> None:
        self._ident = identifier
        self._next = identifier.tk_nextmove
        self._rowbase = identifier._rowbase
        self._out = identifier.tk_output
        self._half = identifier.nb_ptc
        self._pc = identifier.nb_pc
        self._aliases = tuple(identifier._alias_pairs)
        self._classes = len(identifier.nb_classes)
        self._table = np.empty(self._half.shape, dtype=np.float32)
        self._converted = np.zeros(self._half.shape[0], dtype=bool)
        self._memo: dict[tuple[int, bytes], tuple[int, tuple[int, ...]]] = {}
        self._lock = threading.Lock()

    @classmethod
    def usable(cls, identifier: Any) -> bool:
        """True when ``identifier`` has the internals this scorer reads (py3langid 0.4)."""
        names = ("tk_nextmove", "_rowbase", "tk_output", "nb_ptc", "nb_pc", "_alias_pairs", "_encode")
        return all(hasattr(identifier, n) for n in names) and getattr(identifier, "_norm_probs", False)

    def _step(self, state: int, data: bytes) -> tuple[int, tuple[int, ...]]:
        nm, rowbase, out = self._next, self._rowbase, self._out
        found = []
        for byte in data:
            state = nm[rowbase[state] + byte]
            f = out[state]
            if f >= 0:
                found.append(f)
        return state, tuple(found)

    def _walk(self, data: bytes) -> list[int]:
        """The n-gram states met walking ``data`` (py3langid's ``visit_counts``, in order)."""
        memo = self._memo
        state = 0
        found: list[int] = []
        pieces = data.split(b" ")
        for i in range(len(pieces) - 1):
            piece = pieces[i]
            key = (state, piece)
            hit = memo.get(key)
            if hit is None:
                hit = self._step(state, piece + b" ")
                if len(piece) <= _MEMO_PIECE_BYTES:
                    if len(memo) >= _MEMO_ENTRIES:
                        memo.clear()
                    memo[key] = hit
            state, states = hit
            found += states
        found += self._step(state, pieces[-1])[1]
        return found

    def _rows(self, idx: np.ndarray) -> np.ndarray:
        if not self._converted[idx].all():
            fresh = idx[~self._converted[idx]]
            with self._lock:
                self._table[fresh] = self._half[fresh]
                self._converted[fresh] = True
        return self._table[idx]

    def decide(self, text: str) -> np.ndarray:
        """The probability of every class of the identifier for ``text`` (float32)."""
        data = self._ident._encode(text)
        found = self._walk(data)
        if found:
            visits: dict[int, int] = {}
            _count_elements(visits, found)  # Counter's C loop, without Counter's Python wrapper
            idx = np.fromiter(visits.keys(), dtype=np.intp, count=len(visits))
            counts = np.fromiter(visits.values(), dtype=np.float32, count=len(visits))
            scores = np.log1p(counts) @ self._rows(idx) + self._pc
        else:
            scores = np.zeros(self._classes, dtype=np.float32)
        scores *= 1.0 / math.sqrt(len(data) or 1)
        np.exp(scores - scores.max(), out=scores)
        scores /= scores.sum()
        for i, j in self._aliases:  # a label with two columns (srl, sr): folded into the first
            scores[i] += scores[j]
            scores[j] = 0.0
        return scores


__all__ = ["FastScorer"]

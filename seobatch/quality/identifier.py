"""py3langid's scores, the same numbers at a fraction of the cost (the gate's hot spot).

py3langid (0.4) scores a text in three steps: its UTF-8 bytes are walked through a DFA
whose states stand for the byte n-grams ending there; each state met, weighed by the
log of its count, adds its row of a (states × languages) float16 table; a softmax over
the languages gives the probabilities. On a reply of 150 bytes two costs dominated:

- **the walk** is a Python loop per byte. Replies are made of words the site uses again
  and again, so the walk goes a space-separated piece at a time, memoised on (state
  before, piece): the same states in the same order (a DFA step depends on nothing else);
- **the float16 table**: numpy has no float16 matrix product, so each call converted
  the rows it gathered (70 × 142 values) before multiplying. The table is widened to
  float32 once, at load, in place of the float16 one (57 MB instead of 28; converting
  rows lazily touched nearly all of them within a 100k-page night anyway). A float16 →
  float32 conversion is exact, so the products are py3langid's own.

``tests/quality/test_identifier.py`` holds these scores equal to py3langid's
``_decide`` on replies of every script. A py3langid without those internals gets its
own (slower) ``_decide``.
"""

from __future__ import annotations

import math
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
#: Texts scored together by ``decide_many``.
_BLOCK = 256


class FastScorer:
    """``decide(text)``: what ``identifier._decide(text)`` returns, for an identifier made
    with ``norm_probs=True`` (whose float16 table it widens in place). Safe to share
    between threads (the results stage's two lanes): the memo is a dict that only gains
    entries or starts again."""

    def __init__(self, identifier: Any) -> None:
        self._ident = identifier
        self._next = identifier.tk_nextmove
        self._rowbase = identifier._rowbase
        self._out = identifier.tk_output
        # The model's float16 table, widened once (exactly) and put in its place, so the
        # float16 copy is freed: 57 MB instead of 28, and no conversion on every call.
        table = np.asarray(identifier.nb_ptc, dtype=np.float32)
        full = getattr(identifier, "_full_model", None)  # what set_languages restores from
        if full is not None and full[0] is identifier.nb_ptc:
            identifier._full_model = (table, *full[1:])
        identifier.nb_ptc = table
        self._table = table
        self._pc = identifier.nb_pc
        self._aliases = tuple(identifier._alias_pairs)
        self._classes = len(identifier.nb_classes)
        self._memo: dict[tuple[int, bytes], tuple[int, tuple[int, ...]]] = {}

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

    def decide_many(self, texts: list[str]) -> np.ndarray:
        """``decide`` for each text, as the rows of one array: per text only its walk, its
        gather and its product (BLAS, as py3langid's); the arrays of counts, the softmax
        and the folding done once per block of texts."""
        out = np.zeros((len(texts), self._classes), dtype=np.float32)
        for start in range(0, len(texts), _BLOCK):
            self._block(texts[start : start + _BLOCK], out[start : start + _BLOCK])
        return out

    def _block(self, texts: list[str], out: np.ndarray) -> None:
        keys: list[int] = []
        counts: list[int] = []
        spans: list[tuple[int, int, int]] = []  # (row, first key, end)
        scale = np.empty(len(texts), dtype=np.float32)
        for i, text in enumerate(texts):
            data = self._ident._encode(text)
            scale[i] = 1.0 / math.sqrt(len(data) or 1)
            visits: dict[int, int] = {}
            _count_elements(visits, self._walk(data))
            if visits:  # a text without features keeps its zeros (py3langid: uniform)
                spans.append((i, len(keys), len(keys) + len(visits)))
                keys += visits
                counts += visits.values()
        if spans:
            idx = np.array(keys, dtype=np.intp)
            weights = np.log1p(np.array(counts, dtype=np.float32))
            table = self._table
            for i, a, b in spans:
                out[i] = weights[a:b] @ table[idx[a:b]]
            out[[i for i, _, _ in spans]] += self._pc
        out *= scale[:, None]
        out -= out.max(axis=1, keepdims=True)
        np.exp(out, out=out)
        out /= out.sum(axis=1, keepdims=True)
        for i, j in self._aliases:
            out[:, i] += out[:, j]
            out[:, j] = 0.0

    def decide(self, text: str) -> np.ndarray:
        """The probability of every class of the identifier for ``text`` (float32)."""
        data = self._ident._encode(text)
        found = self._walk(data)
        if found:
            visits: dict[int, int] = {}
            _count_elements(visits, found)  # Counter's C loop, without Counter's Python wrapper
            idx = np.fromiter(visits.keys(), dtype=np.intp, count=len(visits))
            counts = np.fromiter(visits.values(), dtype=np.float32, count=len(visits))
            scores = np.log1p(counts) @ self._table[idx] + self._pc
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

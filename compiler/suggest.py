"""Suggestions ("did you mean …?") for misspelt keywords, module names and options.

One small function, :func:`did_you_mean`, used by the catalog (module names,
collections) and the schema checks (keywords, options).  It combines two
measures because each alone gets common typos wrong:

* difflib's ratio (``2·matches / total length``) handles missing suffixes well
  (``delegate`` → ``delegate_to``) but scores a swap of two neighbouring letters
  poorly (``asnyc`` vs ``async`` share only ``as`` + ``c`` in order);
* the optimal-string-alignment Damerau-Levenshtein distance counts a swap, a
  missing, an extra or a wrong letter as one edit each (``asnyc``, ``retires``,
  ``pol``, ``regster``, ``remove_user`` are all one edit away) but alone would
  accept any two three-letter words.

A candidate qualifies when its ratio reaches ``cutoff``, *or* it is within a
small edit budget that grows with the word's length, *or* the word (four
letters or more) is a prefix of it.  Qualifying candidates are
ranked by fewest edits, then highest ratio, then alphabetically, so the answer
never depends on the order of ``candidates``.  Comparison ignores case.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from difflib import SequenceMatcher

__all__ = ["SuggestionIndex", "did_you_mean", "edit_distance"]

DEFAULT_CUTOFF = 0.75

# A word this long that starts a candidate is taken as an abbreviation of it
# (``yum_repo`` → ``yum_repository``, ``gather`` → ``gather_facts``).
_MIN_PREFIX = 4


def did_you_mean(
    word: str, candidates: Iterable[str], *, cutoff: float = DEFAULT_CUTOFF
) -> str | None:
    """The candidate closest to ``word``, or ``None`` when nothing is close.

    ``cutoff`` is the difflib similarity (0…1) at which a candidate qualifies
    regardless of its edit distance.  An exact match is returned at once; a
    match that differs only in case ranks first, spelt as in ``candidates``.
    """
    if isinstance(candidates, frozenset):
        # Keyword sets are asked about again and again (one misspelt custom module per
        # task): answer each (word, set) once.
        return _cached(word, candidates, cutoff)
    return _closest(word, candidates, cutoff)


@functools.lru_cache(maxsize=4096)
def _cached(word: str, candidates: frozenset[str], cutoff: float) -> str | None:
    return _closest(word, candidates, cutoff)


def _closest(word: str, candidates: Iterable[str], cutoff: float) -> str | None:
    needle = word.lower()
    if not needle:
        return None
    budget = _edit_budget(len(needle))
    best: tuple[int, float, str] | None = None
    best_name: str | None = None
    matcher = SequenceMatcher(autojunk=False)
    matcher.set_seq2(needle)
    for candidate in candidates:
        if candidate == word:
            return candidate
        hay = candidate.lower()
        matcher.set_seq1(hay)
        prefix = len(needle) >= _MIN_PREFIX and hay.startswith(needle)
        # Cheap bounds first.  quick_ratio() counts the letters the two words
        # share as multisets; each edit adds at most one foreign letter, so
        # ``distance <= budget`` needs ``shared >= longer - budget``, and
        # quick_ratio() is an upper bound of ratio().
        quick = matcher.quick_ratio()
        longer = max(len(hay), len(needle))
        shared = round(quick * (len(hay) + len(needle)) / 2)
        within_budget = abs(len(hay) - len(needle)) <= budget and shared >= longer - budget
        if not (prefix or within_budget or quick >= cutoff):
            continue
        ratio = matcher.ratio()
        distance = edit_distance(needle, hay)
        if not (prefix or distance <= budget or ratio >= cutoff):
            continue
        key = (distance, -ratio, candidate)
        if best is None or key < best:
            best = key
            best_name = candidate
    return best_name


def _edit_budget(length: int) -> int:
    """Edits tolerated for a word of ``length`` letters.

    One edit for short words (``pol`` → ``poll``) but none for one- or
    two-letter words, where a single edit reaches almost anything; two for
    words of 8 letters or more.
    """
    if length <= 2:
        return 0
    if length < 8:
        return 1
    return 2


def edit_distance(a: str, b: str) -> int:
    """Optimal-string-alignment distance: insertions, deletions, substitutions
    and swaps of adjacent letters each cost one."""
    if a == b:
        return 0
    if not a:
        return len(b)
    if not b:
        return len(a)
    previous_previous: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, start=1):
            cost = 0 if ca == cb else 1
            value = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                value = min(value, previous_previous[j - 2] + 1)
            current[j] = value
        previous_previous, previous = previous, current
    return previous[-1]


class SuggestionIndex:
    """`did_you_mean` over thousands of names, for edits only (prefixes and a few wrong,
    missing, extra or swapped letters; no ratio matches).

    A check of a playbook full of custom modules asks for a suggestion per unknown name;
    scanning every routed module name with difflib for each cost most of the check.  Here
    a name is compared only with names of about its length that share nearly all its
    letters (an edit changes at most one letter of the set), which leaves a handful.
    """

    __slots__ = ("_by_length", "_lower", "_names")

    def __init__(self, names: Iterable[str]) -> None:
        self._names = tuple(sorted(set(names)))
        self._lower = tuple((n.lower(), n) for n in self._names)
        by_length: dict[int, list[tuple[str, frozenset[str]]]] = {}
        for name in self._names:
            by_length.setdefault(len(name), []).append((name, frozenset(name.lower())))
        self._by_length = by_length

    def closest(self, word: str) -> str | None:
        needle = word.lower()
        if not needle:
            return None
        budget = _edit_budget(len(needle))
        letters = frozenset(needle)
        candidates: list[str] = []
        if len(needle) >= _MIN_PREFIX:
            candidates += [n for low, n in self._lower if low.startswith(needle)]
        for length in range(len(needle) - budget, len(needle) + budget + 1):
            for name, name_letters in self._by_length.get(length, ()):
                if len(name_letters - letters) <= budget and len(letters - name_letters) <= budget:
                    candidates.append(name)
        return did_you_mean(word, sorted(set(candidates)), cutoff=1.01) if candidates else None

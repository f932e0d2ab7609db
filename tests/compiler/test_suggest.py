"""did_you_mean: the small fuzzy matcher behind every "did you mean" help."""

from __future__ import annotations

import itertools

import pytest
from playgraph.compiler.suggest import did_you_mean, edit_distance

TASK_WORDS = (
    "action",
    "any_errors_fatal",
    "args",
    "async",
    "async_val",
    "become",
    "become_user",
    "changed_when",
    "delay",
    "delegate_facts",
    "delegate_to",
    "failed_when",
    "ignore_errors",
    "loop",
    "loop_control",
    "name",
    "no_log",
    "notify",
    "poll",
    "port",
    "register",
    "remote_user",
    "retries",
    "run_once",
    "tags",
    "until",
    "vars",
    "when",
)


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("remove_user", "remote_user"),
        ("regster", "register"),
        ("asnyc", "async"),
        ("asyc", "async"),
        ("pol", "poll"),
        ("retires", "retries"),
        ("delegate", "delegate_to"),
        ("Register", "register"),  # case is ignored
        ("REGISTER", "register"),
        ("notfiy", "notify"),
        ("chaged_when", "changed_when"),
        ("loop_contorl", "loop_control"),
        ("ignore_error", "ignore_errors"),
        ("untill", "until"),
        ("nmae", "name"),
        ("tag", "tags"),
        ("foo", None),
        ("x", None),
        ("", None),
        ("completely_unrelated_words", None),
    ],
)
def test_task_keyword_typos(word: str, expected: str | None) -> None:
    assert did_you_mean(word, TASK_WORDS) == expected


def test_exact_match_is_returned_as_spelt_in_candidates() -> None:
    assert did_you_mean("poll", TASK_WORDS) == "poll"
    assert did_you_mean("Poll", ["poll", "port"]) == "poll"


def test_no_candidates() -> None:
    assert did_you_mean("async", []) is None


def test_result_does_not_depend_on_candidate_order() -> None:
    words = ["port", "poll", "pool", "polls"]
    results = {did_you_mean("pol", perm) for perm in itertools.permutations(words)}
    assert len(results) == 1
    # Equal distance and ratio: alphabetical order breaks the tie.
    assert did_you_mean("ab", ["ab1", "ab2"], cutoff=0.5) == "ab1"


def test_cutoff_controls_the_similarity_route() -> None:
    # ``deleg_to`` is 3 edits from ``delegate_to`` and no prefix of it: only
    # the ratio (0.84) admits it.
    assert did_you_mean("deleg_to", ["delegate_to"], cutoff=0.99) is None
    assert did_you_mean("deleg_to", ["delegate_to"], cutoff=0.8) == "delegate_to"


def test_a_long_enough_prefix_is_an_abbreviation() -> None:
    assert did_you_mean("yum_repo", ["yum_repository", "yum"], cutoff=0.99) == "yum_repository"
    assert did_you_mean("gath", ["gather_facts", "gather_subset"]) == "gather_facts"
    assert did_you_mean("gat", ["gather_facts"], cutoff=0.99) is None  # too short


def test_one_letter_words_need_the_ratio() -> None:
    # A single edit reaches almost any two-letter word, so short words get no
    # edit budget.
    assert did_you_mean("ab", ["xb"]) is None


def test_accepts_any_iterable() -> None:
    assert did_you_mean("regster", (w for w in TASK_WORDS)) == "register"
    assert did_you_mean("regster", frozenset(TASK_WORDS)) == "register"


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [
        ("", "", 0),
        ("", "abc", 3),
        ("abc", "", 3),
        ("async", "async", 0),
        ("asnyc", "async", 1),  # adjacent swap counts once
        ("retires", "retries", 1),
        ("pol", "poll", 1),
        ("regster", "register", 1),
        ("remove_user", "remote_user", 1),
        ("kitten", "sitting", 3),
        ("ca", "abc", 3),  # optimal string alignment, not unrestricted Damerau
    ],
)
def test_edit_distance(a: str, b: str, distance: int) -> None:
    assert edit_distance(a, b) == distance
    assert edit_distance(b, a) == distance

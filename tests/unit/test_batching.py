import threading

import pytest

from shared.batching import GroupCall


def test_items_arriving_while_a_call_runs_go_together_in_the_next_call_and_each_caller_gets_its_own_result():
    first_call_entered, release_first_call = threading.Event(), threading.Event()
    groups = []

    def many(items):
        groups.append(list(items))
        if len(groups) == 1:
            first_call_entered.set()
            release_first_call.wait(5)
        return [item * 10 for item in items]

    call = GroupCall(many, name="test-group")
    results = {}
    first = threading.Thread(target=lambda: results.__setitem__(0, call(0)))
    first.start()
    assert first_call_entered.wait(5)
    others = [threading.Thread(target=lambda n=n: results.__setitem__(n, call(n))) for n in range(1, 6)]
    for thread in others:
        thread.start()
    while sum(len(g) for g in groups) + len(call._pending) < 6:  # all five are waiting behind the first call
        threading.Event().wait(0.01)
    release_first_call.set()
    for thread in [first, *others]:
        thread.join(5)
    assert results == {n: n * 10 for n in range(6)}
    assert groups[0] == [0] and sorted(groups[1]) == [1, 2, 3, 4, 5]  # one call for the five


def test_a_failing_call_fails_every_caller_of_its_group_and_the_next_group_still_runs():
    def many(items):
        if "bad" in items:
            raise ValueError("the database went away")
        return [item.upper() for item in items]

    call = GroupCall(many, name="test-fail")
    with pytest.raises(ValueError, match="went away"):
        call("bad")
    assert call("good") == "GOOD"


def test_a_call_returning_the_wrong_number_of_results_is_an_error_not_a_misattribution():
    call = GroupCall(lambda items: [], name="test-short")
    with pytest.raises(RuntimeError, match="0 results for 1 items"):
        call("x")


def test_an_exception_returned_in_an_items_place_fails_only_that_caller():
    call = GroupCall(lambda items: [KeyError(i) if i == "lost" else i for i in items], name="test-one-fails")
    with pytest.raises(KeyError):
        call("lost")
    assert call("kept") == "kept"

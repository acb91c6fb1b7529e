"""AckRuns: one basic.ack(multiple) may only cover messages that have all finished."""

from shared.reliable_events import AckRuns


def test_a_run_ends_before_the_first_message_still_running():
    runs = AckRuns()
    for tag in range(1, 7):
        runs.received(tag)
    for tag in (1, 2, 4, 5):
        runs.finished(tag)
    assert runs.take_run() == 2  # 3 still runs: 4 and 5 wait
    assert runs.take_run() is None
    runs.finished(3)
    assert runs.take_run() == 5
    runs.finished(6)
    assert runs.take_run() == 6
    assert runs.take_run() is None


def test_nothing_is_taken_while_the_oldest_runs():
    runs = AckRuns()
    runs.received(7)
    runs.received(8)
    runs.finished(8)
    assert runs.take_run() is None

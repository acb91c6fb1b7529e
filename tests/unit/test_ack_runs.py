"""AckRuns: a multiple ack covers only finished messages; a slow one holds back no others."""

from shared.acks import AckRuns


def received(*tags):
    runs = AckRuns()
    for tag in tags:
        runs.received(tag)
    return runs


def test_the_run_at_the_head_goes_in_one_ack_and_those_behind_a_running_one_singly():
    runs = received(1, 2, 3, 4, 5, 6)
    for tag in (1, 2, 4, 5):
        runs.finished(tag)
    assert runs.take() == (2, [4, 5])  # 3 still runs: the multiple ack stops at 2
    assert runs.take() == (None, [])
    runs.finished(6)
    assert runs.take() == (None, [6])  # 3 is still the oldest unacked
    runs.finished(3)
    assert runs.take() == (3, [])
    assert runs.take() == (None, [])


def test_a_requeued_message_no_longer_holds_the_run_back():
    runs = received(7, 8, 9)
    runs.finished(8)
    runs.forget(7)  # rejected with requeue on its own
    runs.finished(9)
    assert runs.take() == (9, [])


def test_a_reopened_channel_starts_its_tags_again():
    runs = received(41, 42)
    runs.finished(41)
    runs.received(1)  # the old tags are void on the reopened channel
    runs.finished(1)
    assert runs.take() == (1, [])

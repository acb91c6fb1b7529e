"""Which events reach whom, and when. Pure."""

import datetime as dt

from notifications.domainmodel import in_quiet_hours, matches, quiet_hours_end

FACTS = {"department": "hoi-nong-dan-yen-the", "field": "household-economy", "movement": "farmers-good-business"}


def test_empty_filters_match_everything_and_each_filter_narrows():
    assert matches({}, "exemplar.awarded", "e1", FACTS)
    assert matches({"fields": ["household-economy"]}, "exemplar.awarded", "e1", FACTS)
    assert not matches({"fields": ["health"]}, "exemplar.awarded", "e1", FACTS)
    assert not matches({"event_types": ["exemplar.detected"]}, "exemplar.awarded", "e1", FACTS)
    assert matches({"exemplar_ids": ["e1"], "departments": ["hoi-nong-dan-yen-the"]}, "exemplar.awarded", "e1", FACTS)
    assert not matches({"exemplar_ids": ["e2"]}, "exemplar.awarded", "e1", FACTS)
    assert not matches({"movements": ["farmers-good-business"]}, "case.opened", None, None)  # nothing known


def test_quiet_hours_may_cross_midnight():
    night = {"start": "22:00", "end": "06:00"}
    assert in_quiet_hours(night, dt.time(23, 30)) and in_quiet_hours(night, dt.time(5, 59))
    assert not in_quiet_hours(night, dt.time(6, 0)) and not in_quiet_hours(night, dt.time(12, 0))
    lunch = {"start": "11:30", "end": "13:30"}
    assert in_quiet_hours(lunch, dt.time(12, 0)) and not in_quiet_hours(lunch, dt.time(14, 0))
    assert not in_quiet_hours(None, dt.time(12, 0))


def test_held_messages_leave_when_quiet_hours_end():
    night = {"start": "22:00", "end": "06:00"}
    late = dt.datetime(2018, 10, 12, 23, 0, tzinfo=dt.timezone.utc)
    assert quiet_hours_end(night, late) == dt.datetime(2018, 10, 13, 6, 0, tzinfo=dt.timezone.utc)
    early = dt.datetime(2018, 10, 13, 2, 0, tzinfo=dt.timezone.utc)
    assert quiet_hours_end(night, early) == dt.datetime(2018, 10, 13, 6, 0, tzinfo=dt.timezone.utc)

"""Load, change, save: how a person's command reaches an application's log.

An application says what a command does to its aggregate (``attempt``); a ``Writer`` does the
rest, the same way in every service:

* **Retries with a key** (shared.requests): the answer an aggregate's latest events hold for the
  caller's idempotency key is returned instead of changing it again, and a creating command
  takes its id from the key, so a retry that lost the race to its first attempt gets that
  attempt's answer too.
* **Conflicts**: a command is judged on the aggregate as stored when it began. A change by a
  person stored after the version the officer saw (``expected_version``), or while the command
  ran, is a ``ConcurrentChange``, never overwritten; facts the system records
  (``system_recorded``) are not. A save refused on the version is judged again on what is
  stored.
* **The sole-writer cache**: while this process is known to be its instance's only copy, a
  command starts from the aggregate it last committed (the library's cache), asking the store
  nothing; whatever makes that attempt fail sends the command to the store, where only what
  is stored decides. A copy started in the seconds before this one noticed it can make such a
  command a conflict that was not one (the officer retries); never a change stored on state
  that misses a stored event, which the store's version check forbids.
* **Group commit**: the store takes a table lock from insert to commit, so saves are one at a
  time; a service handling many commands at once saves theirs together (one lock, one commit),
  and a conflict still fails only the command that lost.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from copy import deepcopy
from typing import Any, Callable, Sequence

from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from shared import requests
from shared.batching import GroupCall
from shared.errors import ConcurrentChange, DomainError

log = logging.getLogger(__name__)

ATTEMPTS = 5  # loads of one command before its concurrent changes are called a conflict
NO_REQUEST = requests.Request()
# What ``attempt`` returns: the answer, or the answer and other aggregates the change made.
Outcome = dict | tuple[dict, Sequence[Aggregate]]


def conflict(aggregate_id: uuid.UUID, why: str) -> ConcurrentChange:
    return ConcurrentChange(
        "Dữ liệu vừa được người khác cập nhật; thao tác của bạn chưa được lưu. Hãy tải lại và thử lại.",
        f"concurrent change on {aggregate_id}: {why}", str(aggregate_id))


class Writer:
    """``load(id)``: the aggregate from the store, or the application's NotFound;
    ``conflict(id, why)``: the ConcurrentChange its officers read."""

    def __init__(self, app: Application, *, load: Callable[[Any], Aggregate],
                 conflict: Callable[[uuid.UUID, str], ConcurrentChange] = conflict,
                 system_recorded: tuple[type, ...] = (), group_commit: bool = False, name: str = "writer"):
        self.app = app
        self.load = load
        self.conflict = conflict
        self.system_recorded = system_recorded
        self._group = GroupCall(self._save_together, name=f"{name}-group-commit") if group_commit else None
        self._caching = threading.Lock()
        # Until when this process is known to be the only copy of its instance (the only
        # consumer of its RPC queue): then no one else changes its aggregates' people-made
        # history. The runtime sets it a little past its next check (0: not known to be alone).
        self.sole_writer_until = 0.0

    # -- the commands --------------------------------------------------------------------

    def create(self, make: Callable[[uuid.UUID | None], tuple[Aggregate, dict]], request: requests.Request,
               scope: str) -> dict:
        """``make(id)``: the new aggregate (with that id; None: a new one) and its answer."""
        aggregate_id = requests.created_id(request.caller, scope)
        if aggregate_id is not None and (answer := self.earlier_answer(aggregate_id, request)):
            return answer
        aggregate, answer = make(aggregate_id)
        requests.stamp(aggregate.pending_events, request.caller, request.digest, answer)
        try:
            self.save(aggregate)
        except IntegrityError:  # the same key's first attempt, stored while this one ran
            if aggregate_id is None or not (answer := self.earlier_answer(aggregate_id, request)):
                raise self.conflict(aggregate.id, "an aggregate with this id was stored first") from None
        return answer

    def change(self, aggregate_id: Any, attempt: Callable[[Aggregate], Outcome],
               request: requests.Request = NO_REQUEST, expected_version: int | None = None,
               load: Callable[[Any], Aggregate] | None = None) -> dict:
        """Load the aggregate, ``attempt(aggregate)`` (it changes it and answers), save; again
        on what is stored if the save was refused or the cache misled, a conflict only if a
        person's change came in between."""
        load = load or self.load
        seen = expected_version
        cached = self._trusts_cache()
        stale_from = None  # the version a cached attempt started from, once the store disagreed
        for _ in range(ATTEMPTS):
            aggregate = self._from_cache(aggregate_id) if cached else None
            cached = aggregate is not None
            if aggregate is None:
                aggregate = load(aggregate_id)
                if stale_from is not None and aggregate.version > stale_from and \
                        self._changed_by_people(aggregate.id, stale_from):
                    self.sole_writer = False  # a person's change it had not committed: perhaps a new copy
                stale_from = None
            loaded = aggregate.version
            if answer := self.earlier_answer(aggregate.id, request):
                return answer  # a retry of a change already stored: its answer, not a second change
            if seen is not None and seen > aggregate.version:
                if cached:
                    cached, stale_from = False, loaded
                    continue  # this copy's cache is behind what the officer saw
                raise self.conflict(aggregate.id, f"version {seen} expected, the store has {aggregate.version}")
            if seen is None:
                seen = aggregate.version
            elif seen < aggregate.version and self._changed_by_people(aggregate.id, seen):
                raise self.conflict(aggregate.id, f"changed by someone else since version {seen}")
            try:
                outcome = attempt(aggregate)  # the rules are checked against the current state
            except DomainError:
                if not cached:
                    raise
                cached, stale_from = False, loaded  # judged on the cache: judge it again on what is stored
                continue
            answer, others = outcome if isinstance(outcome, tuple) else (outcome, ())
            for changed in (aggregate, *others):
                requests.stamp(changed.pending_events, request.caller, request.digest, answer)
            try:
                self.save(aggregate, *others)
            except IntegrityError:
                stale_from = loaded if cached else None
                cached = False
                continue  # reload; a conflict only if a person's change came in between
            return answer
        raise self.conflict(aggregate.id, "too many concurrent changes")

    def record(self, *aggregates: Aggregate) -> None:
        """A fact the system records, inside its handler's transaction (never the group's, which
        commits in one of its own); not cached, since that transaction may yet roll back."""
        try:
            self.app.save(*aggregates)
        except IntegrityError:
            raise self.conflict(aggregates[0].id, "another change was stored first") from None

    def earlier_answer(self, aggregate_id: uuid.UUID, request: requests.Request) -> dict | None:
        if not request.retryable:
            return None  # nothing to look for: no read
        latest = self.app.events.get(aggregate_id, desc=True, limit=requests.IDEMPOTENCY_WINDOW)
        return requests.earlier_answer(latest, request.caller, request.digest)

    def _changed_by_people(self, aggregate_id: uuid.UUID, since_version: int) -> bool:
        """Did anything but the system's recorded facts happen after ``since_version``?"""
        return any(not isinstance(event, self.system_recorded)
                   for event in self.app.events.get(aggregate_id, gt=since_version))

    # -- saving ----------------------------------------------------------------------------

    def save(self, *aggregates: Aggregate) -> None:
        """Together with the other commands' saves running at once (group commit), if enabled;
        then cached."""
        if self._group is not None:
            self._group(aggregates)  # remembered by the group, as it commits
            return
        self.app.save(*aggregates)
        self._remember(*aggregates)

    def _save_together(self, changes: list[Sequence[Aggregate]]) -> list:
        """Group commit: for each change, None once stored, or the IntegrityError that refused it."""
        each = []
        for aggregates in changes:
            processing = ProcessingEvent()
            processing.collect_events(*aggregates)
            each.append(processing)
        together = ProcessingEvent()
        for processing in each:
            together.events += processing.events
            together.aggregates |= processing.aggregates
        try:
            self._commit(together)
        except IntegrityError as refused:
            if len(each) == 1:
                return [refused]
        else:
            for aggregates in changes:
                self._remember(*aggregates)
            return [None] * len(changes)
        outcomes = []  # one of them is behind the log: each on its own, so only that one fails
        for aggregates, processing in zip(changes, each):
            try:
                self._commit(processing)
            except Exception as failed:  # noqa: BLE001 - that item's alone: the others may be stored
                outcomes.append(failed)
            else:
                outcomes.append(None)
                self._remember(*aggregates)
        return outcomes

    def _commit(self, processing: ProcessingEvent) -> list:
        """What Application.save does once it has collected the events. Once they are stored
        nothing may fail the save: a caller told "not stored" would make the change again."""
        recordings = self.app._record(processing)
        try:
            self.app._take_snapshots(processing)
        except Exception:  # noqa: BLE001 - a snapshot only speeds up loads; the next one is taken later
            log.warning("snapshot not taken after a save", exc_info=True)
        self.app._notify(recordings)
        return recordings

    # -- the aggregates this process committed last (the library's aggregate cache) ---------

    @property
    def sole_writer(self) -> bool:
        return time.monotonic() < self.sole_writer_until

    @sole_writer.setter
    def sole_writer(self, alone: bool) -> None:
        """True: until told otherwise (tests, scripts); the runtime sets ``sole_writer_until``."""
        self.sole_writer_until = math.inf if alone else 0.0

    def _trusts_cache(self) -> bool:
        repository = self.app.repository
        return self.sole_writer and repository.cache is not None and repository.fastforward

    def _from_cache(self, aggregate_id: Any) -> Aggregate | None:
        try:
            return deepcopy(self.app.repository.cache.get(uuid.UUID(str(aggregate_id))))
        except (KeyError, ValueError):
            return None  # not cached; or not an id, which the load refuses

    def _remember(self, *aggregates: Aggregate) -> None:
        """Cache what was just committed, before its caller runs on (the library's cache, in
        fast-forward mode, holds only what it loaded); never go back a version. The object
        itself: its command is done with it, and every use of the cache takes a copy."""
        cache = self.app.repository.cache
        if cache is None:
            return
        with self._caching:
            for aggregate in aggregates:
                try:
                    behind = cache.get(aggregate.id).version < aggregate.version
                except KeyError:
                    behind = True
                if behind:
                    cache.put(aggregate.id, aggregate)

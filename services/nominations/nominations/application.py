"""The nominations application: load an exemplar, change it, save it (eventsourcing)."""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
import time
import uuid
from copy import deepcopy
from typing import Any, Callable

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent, Repository
from eventsourcing.persistence import IntegrityError, JSONTranscoder
from pydantic_core import to_jsonable_python

from nominations.domainmodel import Exemplar
from shared import requests
from shared.batching import GroupCall
from shared.catalog import Catalog
from shared.contracts import nominations as c
from shared.errors import ConcurrentChange, DomainError, InvalidInput, NotFound, RuleViolation
from shared.persistence import DateAsISO
from shared.topology import Council
from shared.wire import WireEvent, describe_event

log = logging.getLogger(__name__)

# Facts the system records from councils; an officer's command may follow them without a conflict.
SYSTEM_RECORDED = (Exemplar.CouncilCaseProgressed, Exemplar.Awarded, Exemplar.AwardRevoked)

# awards wire event -> the exemplar's step ("award.*" become their own exemplar events)
COUNCIL_STEPS = {
    "case.opened": "opened",
    "case.forwarded": "forwarded",
    "case.returned": "returned",
    "case.rejected": "rejected",
    "award.granted": "awarded",
    "award.revoked": "revoked",
}

SNAPSHOT_INTERVAL = 50  # a load reads one snapshot and at most 49 events after it


def _catalog_check(catalog: Catalog, cmd: c.Command) -> None:
    """Codes must come from the catalogs; the movement must run in the business year."""
    checks = (
        ("subject_kind", catalog.subject_kinds, "Loại đối tượng"),
        ("field", catalog.fields, "Lĩnh vực"),
        ("movement", catalog.movements, "Phong trào thi đua"),
        ("award_form", catalog.award_forms, "Hình thức khen thưởng"),
    )
    for name, entries, label in checks:
        code = getattr(cmd, name, None)
        if code is not None and code not in entries:
            raise InvalidInput(f"{label} «{code}» không có trong danh mục.", f"unknown {name} {code!r}", name)
    movement = catalog.movements.get(getattr(cmd, "movement", None) or "")
    if movement and not movement.start_year <= cmd.business_date.year <= movement.end_year:
        raise InvalidInput(
            f"Phong trào «{movement.name}» diễn ra {movement.start_year}–{movement.end_year}, "
            f"không bao gồm năm {cmd.business_date.year}.",
            f"movement {movement.code!r} does not run in {cmd.business_date.year}",
            "movement",
        )


# command name -> (input model, how it changes the exemplar), from the contract's one list of changes.
CHANGES: dict[str, tuple[type[c.Command], Callable[..., Any]]] = {
    name: (model, getattr(Exemplar, name)) for name, model in c.CHANGE_COMMANDS.items()}


class WholeSnapshots(Repository):
    """A snapshot taken before the exemplar kept some of its facts (its upcaster marks it) would
    hide them: such an exemplar is rebuilt from all its events instead (later snapshots are whole)."""

    def _reconstruct_aggregate(self, aggregate_id, version, projector_func):
        aggregate = super()._reconstruct_aggregate(aggregate_id, version, projector_func)
        if getattr(aggregate, "snapshot_incomplete", False):
            aggregate = projector_func(None, self.event_store.get(originator_id=aggregate_id, lte=version))
        return aggregate


def parse_id(value: Any) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        raise InvalidInput(f"Mã điển hình «{value}» không hợp lệ.", f"bad exemplar id {value!r}", "id") from None


class NominationsApplication(Application):
    # Frozen: the library derives table names from it ("nominations_events").
    name = "Nominations"
    snapshotting_intervals = {Exemplar: SNAPSHOT_INTERVAL}

    def __init__(
        self,
        catalog: Catalog,
        department: str,
        env: dict[str, str] | None = None,
        group_commit: bool = False,
    ):
        self.catalog = catalog
        self.department = department  # its nominations go where the topology says, by their date
        super().__init__(env=env)
        # The store takes a table lock from insert to commit, so saves are one at a time; a
        # service handling many commands at once saves theirs together (one lock, one commit).
        self._group_commit = GroupCall(self._save_together, name="nominations-group-commit") if group_commit else None
        self._caching = threading.Lock()
        # Until when this process is known to be the only copy of its instance (the only
        # consumer of its RPC queue): then no one else changes its exemplars' people-made
        # history, and a command may start from the cache without asking the store. The
        # runtime sets it a little past its next check (0: not known to be alone).
        self.sole_writer_until = 0.0

    def _store_command(self, exemplar: Exemplar) -> list:
        """An officer's command: saved together with the others running at once (group commit),
        if enabled. Saves inside a caller's transaction (handle_once) must not come here: the
        group commits in a transaction of its own."""
        if self._group_commit is not None:
            return self._group_commit(exemplar)  # remembered by the group, as it commits
        recordings = self.save(exemplar)
        self._remember(exemplar)
        return recordings

    def _save_together(self, exemplars: list[Exemplar]) -> list:
        """Group commit: each exemplar's recordings, or the IntegrityError that refused it."""
        each = []
        for exemplar in exemplars:
            processing = ProcessingEvent()
            processing.collect_events(exemplar)
            each.append(processing)
        together = ProcessingEvent()
        for processing in each:
            together.events += processing.events
            together.aggregates |= processing.aggregates
        try:
            recordings = self._commit(together)
        except IntegrityError as refused:
            if len(each) == 1:
                return [refused]
        else:
            for exemplar in exemplars:
                self._remember(exemplar)
            return [[r for r in recordings if r.domain_event.originator_id == e.id] for e in exemplars]
        outcomes = []  # one of them is behind the log: each on its own, so only that one fails
        for exemplar, processing in zip(exemplars, each):
            try:
                outcomes.append(self._commit(processing))
            except Exception as failed:  # noqa: BLE001 - that item's alone: the others may be stored
                outcomes.append(failed)
            else:
                self._remember(exemplar)
        return outcomes

    def _commit(self, processing: ProcessingEvent) -> list:
        """What Application.save does once it has collected the events. Once they are stored
        nothing may fail the save: a caller told "not stored" would make the change again."""
        recordings = self._record(processing)
        try:
            self._take_snapshots(processing)
        except Exception:  # noqa: BLE001 - a snapshot only speeds up loads; the next one is taken later
            log.warning("snapshot not taken after a save", exc_info=True)
        self._notify(recordings)
        return recordings

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    def construct_repository(self) -> Repository:
        repository = super().construct_repository()  # the library's, as configured by the environment
        repository.__class__ = WholeSnapshots  # the same object, with the one method above
        return repository

    # -- commands ----------------------------------------------------------------------

    def detect(self, data: dict, caller: dict | None = None) -> dict:
        """A new exemplar; with the caller's idempotency key, the one that key already made."""
        cmd = c.parse(c.Detect, data)
        who = requests.caller_of(caller)
        _catalog_check(self.catalog, cmd)
        digest = requests.fingerprint("detect", cmd)
        exemplar_id = requests.created_id(who, self.department)
        if exemplar_id is not None and (answer := self._earlier_answer(exemplar_id, who, digest)):
            return answer
        exemplar = Exemplar.detect(department=self.department, exemplar_id=exemplar_id, **cmd.model_dump())
        answer = {"id": str(exemplar.id), "version": exemplar.version}
        requests.stamp(exemplar.pending_events, who, digest, answer)
        try:
            self._store_command(exemplar)
        except IntegrityError:  # the same key's first attempt, stored while this one ran
            if exemplar_id is None or not (answer := self._earlier_answer(exemplar_id, who, digest)):
                raise
        return answer

    def _earlier_answer(self, aggregate_id: uuid.UUID, who: requests.Caller | None, digest: str) -> dict | None:
        latest = self.events.get(aggregate_id, desc=True, limit=requests.IDEMPOTENCY_WINDOW)
        return requests.earlier_answer(latest, who, digest)

    def change(self, exemplar_id: Any, command: str, data: dict, expected_version: int | None = None,
               caller: dict | None = None) -> dict:
        """Apply one named command to one exemplar; refuse a stale or concurrent change.

        The command is judged on the exemplar as stored when it began: with If-Match on
        that version, any person's change after ``expected_version``, and otherwise any
        person's change stored while it ran, is a conflict. While this process is its
        instance's only copy (``sole_writer``), "as stored" is its own cache, kept at what
        it last committed, and the first attempt asks the store nothing; whatever makes the
        cached attempt fail — a save refused on the version, a rule refused, an If-Match
        beyond it — sends the command to the store, where only what is stored decides.
        A copy started in the seconds before this one noticed it can make such a command a
        conflict that was not one (the officer retries); never a change stored on state that
        misses a stored event, which the store's version check forbids.
        """
        if command not in CHANGES:
            raise InvalidInput(f"Thao tác «{command}» không tồn tại.", f"unknown command {command!r}", "command")
        model, method = CHANGES[command]
        cmd = c.parse(model, data)
        _catalog_check(self.catalog, cmd)
        arguments = to_jsonable_python(dict(cmd), exclude_none=False) | {"business_date": cmd.business_date}
        if command == "nominate":
            council = self.nominating_council(cmd.business_date)
            arguments |= {"council_level": council.level, "jurisdiction": council.code,
                          "form_subject_kinds": self.catalog.award_forms[cmd.award_form].subject_kinds}
        seen = expected_version
        cached = self._trusts_cache()
        stale_from = None  # the version a cached attempt started from, once the store disagreed
        who = requests.caller_of(caller)
        digest = requests.fingerprint(command, {"data": cmd, "expected_version": expected_version})
        for _ in range(5):
            exemplar = self._cached(exemplar_id) if cached else None
            cached = exemplar is not None
            if exemplar is None:
                exemplar = self.get_exemplar(exemplar_id)
                if stale_from is not None and exemplar.version > stale_from and \
                        self._changed_by_people(exemplar.id, stale_from):
                    self.sole_writer = False  # a person's change it had not committed: perhaps a new copy
                stale_from = None
            loaded = exemplar.version
            if who is not None and who.idempotency_key and (answer := self._earlier_answer(exemplar.id, who, digest)):
                return answer  # a retry of a change already stored: its answer, not a second change
            if seen is not None and seen > exemplar.version:
                if cached:
                    cached, stale_from = False, loaded
                    continue  # this copy's cache is behind what the officer saw
                raise self._conflict(exemplar.id, f"version {seen} expected, the store has {exemplar.version}")
            if seen is None:
                seen = exemplar.version
            elif seen < exemplar.version and self._changed_by_people(exemplar.id, seen):
                raise self._conflict(exemplar.id, f"changed by someone else since version {seen}")
            try:
                result = method(exemplar, **arguments)  # the rules are checked against the current state
            except DomainError:
                if not cached:
                    raise
                cached, stale_from = False, loaded  # judged on the cache: judge it again on what is stored
                continue
            # The version the change will have: the exemplar itself is the cache's once saved,
            # and a load may bring it forward before this returns.
            answer = {"id": str(exemplar.id), "version": exemplar.version, "result": result}
            requests.stamp(exemplar.pending_events, who, digest, answer)
            try:
                self._store_command(exemplar)
            except IntegrityError:
                stale_from = loaded if cached else None
                cached = False
                continue  # reload; conflict only if a person's change came in between
            return answer
        raise self._conflict(parse_id(exemplar_id), "too many concurrent changes")

    def nominating_council(self, on: dt.date) -> Council:
        """The council this department's nomination dated ``on`` goes to (topology data)."""
        council = self.catalog.topology.nominating_council(self.department, on)
        if council is None:
            raise RuleViolation(
                f"Không có hội đồng thi đua – khen thưởng nào nhận đề nghị của đơn vị «{self.department}» "
                f"vào ngày {on.strftime('%d/%m/%Y')} (theo sơ đồ hội đồng).",
                f"no council takes nominations of department {self.department!r} on {on.isoformat()}",
                "no-council-for-department")
        return council

    def _changed_by_people(self, exemplar_id: uuid.UUID, since_version: int) -> bool:
        """Did anything but councils' recorded steps happen after ``since_version``?"""
        return any(not isinstance(event, SYSTEM_RECORDED) for event in self.events.get(exemplar_id, gt=since_version))

    # -- the exemplars this process committed last (the library's aggregate cache) ------

    def _cached(self, exemplar_id: Any) -> Exemplar | None:
        try:
            return deepcopy(self.repository.cache.get(parse_id(exemplar_id)))
        except KeyError:
            return None

    @property
    def sole_writer(self) -> bool:
        return time.monotonic() < self.sole_writer_until

    @sole_writer.setter
    def sole_writer(self, alone: bool) -> None:
        """True: until told otherwise (tests, scripts); the runtime sets ``sole_writer_until``."""
        self.sole_writer_until = math.inf if alone else 0.0

    def _trusts_cache(self) -> bool:
        return self.sole_writer and self.repository.cache is not None and self.repository.fastforward

    def _remember(self, exemplar: Exemplar) -> None:
        """Cache what was just committed, before its caller runs on (the library's cache, in
        fast-forward mode, holds only what it loaded); never go back a version. The object
        itself: its command is done with it, and every use of the cache takes a copy."""
        cache = self.repository.cache
        if cache is None:
            return
        with self._caching:
            try:
                behind = cache.get(exemplar.id).version < exemplar.version
            except KeyError:
                behind = True
            if behind:
                cache.put(exemplar.id, exemplar)

    def _save(self, exemplar: Exemplar) -> None:
        try:
            self.save(exemplar)
        except IntegrityError:
            raise self._conflict(exemplar.id, "another change was stored first") from None

    # -- what councils did, from the awards service's wire events --------------------------

    def record_council_outcome(self, event: WireEvent) -> str:
        """Put a council's step on the exemplar's history, once. Other departments' cases are ignored."""
        payload = event.payload
        exemplar_id = payload.get("exemplar_id")
        if event.type not in COUNCIL_STEPS or exemplar_id is None:
            return "ignored"
        try:
            exemplar = self.repository.get(parse_id(exemplar_id))
        except AggregateNotFoundError:
            return "not-ours"
        when = event.business_date
        if event.type == "award.granted":
            exemplar.record_award(award_id=str(event.aggregate_id), award_form=payload["award_form"],
                                  decision_number=payload["decision_number"], signer=payload["signer"],
                                  council_level=payload["council_level"], jurisdiction=payload["jurisdiction"],
                                  business_date=when)
        elif event.type == "award.revoked":
            exemplar.record_award_revoked(award_id=str(event.aggregate_id), ground=payload["ground"],
                                          reason=payload["reason"], business_date=when)
        else:
            exemplar.record_council_step(
                case_id=str(event.aggregate_id), step=COUNCIL_STEPS[event.type],
                council_level=payload.get("council_level", ""), jurisdiction=payload.get("jurisdiction", ""),
                reason=payload.get("reason", ""), business_date=when)
        self._save(exemplar)
        return event.type

    @staticmethod
    def _conflict(exemplar_id: uuid.UUID, why: str) -> ConcurrentChange:
        return ConcurrentChange(
            "Điển hình vừa được người khác cập nhật; thao tác của bạn chưa được lưu. Hãy tải lại và thử lại.",
            f"concurrent change on exemplar {exemplar_id}: {why}",
            str(exemplar_id),
        )

    # -- queries -----------------------------------------------------------------------

    def get_exemplar(self, exemplar_id: Any) -> Exemplar:
        exemplar_id = parse_id(exemplar_id)
        try:
            return self.repository.get(exemplar_id)
        except AggregateNotFoundError:
            raise _not_found(exemplar_id) from None

    def summary(self, exemplar_id: Any) -> dict:
        ex = self.get_exemplar(exemplar_id)
        return to_jsonable_python(
            {
                "id": ex.id,
                "version": ex.version,
                "subject_id": ex.subject_id or str(ex.id),
                "subject_kind": ex.subject_kind,
                "name": ex.name,
                "field": ex.field,
                "movement": ex.movement,
                "unit": ex.unit,
                "department": ex.department,
                "detected_on": ex.detected_on,
                "stage": ex.stage,
                "on_hold": ex.on_hold,
                "open_holds": ex.open_holds,
                "pending_nomination": ex.pending_nomination,
                "adoptions": ex.adoptions,
                "scores": ex.scores,
            }
        )

    def history(self, exemplar_id: Any) -> list[dict]:
        """Every event of one exemplar in order, with business date and recorded time."""
        exemplar_id = parse_id(exemplar_id)
        history = [describe_event(event) for event in self.events.get(exemplar_id)]
        if not history:
            raise _not_found(exemplar_id)
        return history


def _not_found(exemplar_id: uuid.UUID) -> NotFound:
    return NotFound(f"Không tìm thấy điển hình «{exemplar_id}».", f"exemplar {exemplar_id} not found", str(exemplar_id))


"""The nominations application: load an exemplar, change it, save it (eventsourcing)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Callable

from eventsourcing.application import AggregateNotFoundError, Application, Repository
from eventsourcing.persistence import JSONTranscoder
from pydantic_core import to_jsonable_python

from nominations.domainmodel import Exemplar
from shared import requests
from shared.catalog import Catalog
from shared.contracts import nominations as c
from shared.errors import ConcurrentChange, InvalidInput, NotFound, RuleViolation
from shared.persistence import DateAsISO
from shared.topology import Council
from shared.wire import WireEvent, describe_event
from shared.writer import Writer

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
        # Commands load, change and save through it: group commit if enabled (a service's
        # many commands at once), the sole-writer cache, conflicts and retries with a key.
        self.writer = Writer(self, load=self.get_exemplar, conflict=_conflict, system_recorded=SYSTEM_RECORDED,
                             group_commit=group_commit, name="nominations")

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
        request = requests.Request.of(caller, "detect", cmd)
        _catalog_check(self.catalog, cmd)

        def make(exemplar_id: uuid.UUID | None) -> tuple[Exemplar, dict]:
            exemplar = Exemplar.detect(department=self.department, exemplar_id=exemplar_id, **cmd.model_dump())
            return exemplar, {"id": str(exemplar.id), "version": exemplar.version}

        return self.writer.create(make, request, scope=self.department)

    def change(self, exemplar_id: Any, command: str, data: dict, expected_version: int | None = None,
               caller: dict | None = None) -> dict:
        """Apply one named command to one exemplar; refuse a stale or concurrent change: with
        If-Match, any person's change after ``expected_version``, and otherwise any person's
        change stored while it ran, is a conflict (shared.writer)."""
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
        request = requests.Request.of(caller, command, {"data": cmd, "expected_version": expected_version})

        def attempt(exemplar: Exemplar) -> dict:
            result = method(exemplar, **arguments)  # the rules, checked against the exemplar as loaded
            return {"id": str(exemplar.id), "version": exemplar.version, "result": result}

        return self.writer.change(exemplar_id, attempt, request, expected_version)

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
        self.writer.record(exemplar)
        return event.type

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


def _conflict(exemplar_id: uuid.UUID, why: str) -> ConcurrentChange:
    return ConcurrentChange(
        "Điển hình vừa được người khác cập nhật; thao tác của bạn chưa được lưu. Hãy tải lại và thử lại.",
        f"concurrent change on exemplar {exemplar_id}: {why}",
        str(exemplar_id),
    )


def _not_found(exemplar_id: uuid.UUID) -> NotFound:
    return NotFound(f"Không tìm thấy điển hình «{exemplar_id}».", f"exemplar {exemplar_id} not found", str(exemplar_id))


"""The awards application of one council: cases in, decisions out.

It consumes wire events (nominations from departments, cases forwarded by the council
below, awards and holds from everywhere) exactly once in effect, and takes the council
secretary's commands. Every rule is judged by the policy in force on the command's date.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import JSONTranscoder
from pydantic_core import to_jsonable_python
from sqlalchemy import Boolean, Column, Integer, MetaData, String, Table, func, insert, or_, select, update

from awards.domainmodel import OPEN_STATUSES, Award, Case
from awards.eligibility import PastAward, assess, award_year_of, subject_facts
from awards.policy import Policy
from shared import requests
from shared.catalog import Catalog
from shared.contracts.awards import CASE_COMMANDS, REVOCATION_GROUNDS, AwardFilter, Revoke
from shared.consumer import IdempotentConsumer
from shared.errors import ConcurrentChange, InvalidInput, NotFound
from shared.persistence import DateAsISO
from shared.migrations import migrate
from shared.schema import insert_ignoring_duplicates
from shared.topology import Council
from shared.validation import (CODE_MAX, NAME_MAX, TEXT_MAX, parse)
from shared.wire import WireEvent
from shared.writer import Writer

# The awards every council knows (granted anywhere, from wire events) and open holds.
metadata = MetaData()
awards_register = Table(
    "awards_register",
    metadata,
    Column("award_id", String(36), primary_key=True),
    Column("exemplar_id", String(36), nullable=False, index=True),
    Column("subject_name", String(NAME_MAX), nullable=False),
    Column("subject_kind", String(50), nullable=False),
    Column("field", String(CODE_MAX), nullable=False, index=True),
    Column("unit", String(NAME_MAX), nullable=False),
    Column("department", String(200), nullable=False),
    Column("award_form", String(CODE_MAX), nullable=False, index=True),
    Column("year", Integer, nullable=False, index=True),
    Column("achievement", String(TEXT_MAX), nullable=False),
    Column("decision_number", String(CODE_MAX), nullable=False),
    Column("decision_date", String(10), nullable=False),
    Column("council_level", String(20), nullable=False),
    Column("jurisdiction", String(CODE_MAX), nullable=False),
    Column("prerequisite_award_ids", String(2000), nullable=False),
    Column("revoked", Boolean, nullable=False),
    Column("flagged", Boolean, nullable=False),
)
# Which subject each award is of (shared.topology's departments each know a subject by one id):
# a subject's titles follow it from exemplar to exemplar. Awards registered before subjects had
# ids have no row here: their subject is their exemplar (the id the exemplar's upcaster gives).
subject_awards = Table(
    "subject_awards",
    metadata,
    Column("award_id", String(36), primary_key=True),
    Column("subject_id", String(36), nullable=False, index=True),
)
exemplar_holds = Table(  # holds counted before each had a row in "holds": only counted down now
    "exemplar_holds",
    metadata,
    Column("exemplar_id", String(36), primary_key=True),
    Column("open_holds", Integer, nullable=False),
)
# Each hold by its id, open or released, whichever of the two events arrives first: a release
# retried past its hold, or delivered before it, still leaves the exemplar released.
holds = Table(
    "holds",
    metadata,
    Column("exemplar_id", String(36), primary_key=True),
    Column("hold_id", String(CODE_MAX), primary_key=True),
    Column("released", Boolean, nullable=False),
)
# A revocation or flag heard before its grant (another council's, delivered out of order):
# kept here, and applied when the grant is registered.
award_marks = Table(
    "award_marks",
    metadata,
    Column("award_id", String(36), primary_key=True),
    Column("revoked", Boolean, nullable=False),
    Column("flagged", Boolean, nullable=False),
)


class AwardsApplication(Application):
    name = "Awards"  # frozen: table names derive from it

    def __init__(self, catalog: Catalog, policy: Policy, council: Council, env: dict[str, str] | None = None):
        self.catalog = catalog
        self.policy = policy
        self.council = council
        super().__init__(env=env)
        self.engine = self.recorder.datastore.engine
        migrate(self.engine, "awards")  # from everyone's wire events, not this log: not rebuildable
        self.consumer = IdempotentConsumer(self)
        self.writer = Writer(self, load=self.get_case, conflict=_conflict)  # the secretary's commands

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    def policy_on(self, day: dt.date):
        try:
            return self.policy.in_force(day)
        except LookupError:
            raise InvalidInput(f"Không có quy định khen thưởng áp dụng cho ngày {day.isoformat()}.",
                               f"no award policy in force on {day.isoformat()}", "business_date") from None

    # -- consuming other services' events ------------------------------------------------

    def receive(self, event: WireEvent) -> str:
        """Handle one wire event once; return what it meant here (for logs and tests)."""
        handler = {
            "exemplar.nominated": self._on_nominated,
            "case.forwarded": self._on_forwarded,
            "exemplar.put_on_hold": self._on_hold_change,
            "exemplar.hold_released": self._on_hold_change,
            "award.granted": self._on_award_granted,
            "award.revoked": self._on_award_changed,
            "award.flagged_for_review": self._on_award_changed,
        }.get(event.type)
        if handler is None:
            return "ignored"
        handled, outcome = self.consumer.handle_once(event, lambda: handler(event))
        return outcome if handled else "duplicate"

    def _on_nominated(self, event: WireEvent) -> str:
        payload = event.payload
        if (payload.get("council_level"), payload.get("jurisdiction")) != (self.council.level, self.council.code):
            return "not-for-this-council"
        nomination = {key: payload[key] for key in ("award_form", "achievement", "dossier_refs")}
        nomination |= {"nominated_on": event.business_date.isoformat(), "source_instance": event.instance}
        if isinstance(payload.get("award_year"), int):  # absent from older messages: the decision's year then
            nomination["award_year"] = payload["award_year"]
        return self._open_case(str(event.aggregate_id), nomination, payload["subject"], None, event.business_date,
                               case_id=uuid.uuid5(uuid.NAMESPACE_URL, f"{event.instance}/{event.notification_id}"))

    def _on_forwarded(self, event: WireEvent) -> str:
        payload = event.payload
        if (payload["to_level"], payload["to_jurisdiction"]) != (self.council.level, self.council.code):
            return "not-for-this-council"
        case_id = uuid.uuid5(uuid.NAMESPACE_URL, f"{event.aggregate_id}/{self.council.code}")
        return self._open_case(payload["exemplar_id"], payload["nomination"], payload["subject"], event.instance,
                               event.business_date, case_id=case_id)

    def _open_case(self, exemplar_id: str, nomination: dict, subject: dict, forwarded_from: str | None,
                   business_date: dt.date, case_id: uuid.UUID) -> str:
        eligibility = self.eligibility(exemplar_id, nomination, subject, business_date)
        case = Case.open(case_id=case_id, exemplar_id=exemplar_id, nomination=nomination, subject=subject,
                         council_level=self.council.level, jurisdiction=self.council.code,
                         forwarded_from=forwarded_from, eligibility=eligibility, business_date=business_date)
        self._route(case, business_date)
        requests.stamp_request_id(case.pending_events)  # the nomination's request, from the message headers
        self.save(case)
        return case.status

    def _route(self, case: Case, on: dt.date) -> None:
        """Keep the case, forward it up, or hand it back: never send it where nobody may decide.

        Judged by the topology and the policy in force on the nomination's date: a council
        that no longer exists then (a district after 2025-06-30) or a form that no council
        in force above this one may grant returns the case to the department, the rule named.
        """
        policy, council, form = self.policy_on(on), self.council, case.award_form
        facts = {"returned_by": council.name, "business_date": on, "council": council.name,
                 "on": on.strftime("%d/%m/%Y"), "source": policy.source}
        if not council.in_force(on) or not policy.has_level(council.level):
            case.return_unroutable(rule="council-not-in-force", span=council.span(), **facts)
            return
        if policy.may_grant(council.level, form):
            return
        above = self.catalog.topology.above(council.code, on)
        form_name = self.catalog.award_forms[form].name if form in self.catalog.award_forms else form
        if not any(policy.has_level(c.level) and policy.may_grant(c.level, form) for c in above):
            case.return_unroutable(rule="no-council-may-decide", form=form_name, **facts)
            return
        parent = above[0]
        case.forward(to_level=parent.level, to_jurisdiction=parent.code, business_date=on,
                     reason=f"«{form_name}» vượt thẩm quyền {policy.level_names[council.level]}; "
                            f"chuyển {parent.name}")

    def _on_hold_change(self, event: WireEvent) -> str:
        """Order-free: a hold is open once put and until released, whichever event came first."""
        exemplar_id, hold_id = str(event.aggregate_id), str(event.payload.get("hold_id", ""))
        released = event.type == "exemplar.hold_released"
        hold = holds.c
        with self.recorder.transaction(commit=True) as session:  # joins handle_once's transaction
            known = session.execute(select(hold.released).where(
                hold.exemplar_id == exemplar_id, hold.hold_id == hold_id)).first()
            if known is None:
                session.execute(insert(holds).values(exemplar_id=exemplar_id, hold_id=hold_id, released=released))
                if released:  # perhaps a hold counted before holds had rows: count it down
                    legacy = exemplar_holds.c
                    session.execute(update(exemplar_holds).where(legacy.exemplar_id == exemplar_id,
                                                                 legacy.open_holds > 0)
                                    .values(open_holds=legacy.open_holds - 1))
            elif released:
                session.execute(update(holds).where(hold.exemplar_id == exemplar_id, hold.hold_id == hold_id)
                                .values(released=True))
        return "hold-recorded"

    def _on_award_granted(self, event: WireEvent) -> str:
        p = event.payload
        with self.recorder.transaction(commit=True) as session:
            session.execute(insert(awards_register).values(
                award_id=str(event.aggregate_id), exemplar_id=p["exemplar_id"], subject_name=p["subject"]["name"],
                subject_kind=p["subject"]["subject_kind"], field=p["subject"]["field"], unit=p["subject"]["unit"],
                department=p["subject"]["department"], award_form=p["award_form"], year=p["year"],
                achievement=p["achievement"], decision_number=p["decision_number"],
                decision_date=event.business_date.isoformat(), council_level=p["council_level"],
                jurisdiction=p["jurisdiction"], prerequisite_award_ids=",".join(p["prerequisite_award_ids"]),
                revoked=False, flagged=False,
            ))
            marked = session.execute(select(award_marks).where(award_marks.c.award_id == str(event.aggregate_id))
                                     ).mappings().first()
            if marked:  # revoked or flagged before this grant reached us
                session.execute(update(awards_register).where(awards_register.c.award_id == str(event.aggregate_id))
                                .values(revoked=marked["revoked"], flagged=marked["flagged"]))
            session.execute(insert(subject_awards).values(
                award_id=str(event.aggregate_id), subject_id=p["subject"].get("subject_id") or p["exemplar_id"]))
        return "award-registered"

    def _on_award_changed(self, event: WireEvent) -> str:
        change = {"revoked": True} if event.type == "award.revoked" else {"flagged": True}
        award_id = str(event.aggregate_id)
        with self.recorder.transaction(commit=True) as session:
            moved = session.execute(update(awards_register)
                                    .where(awards_register.c.award_id == award_id).values(**change))
            if moved.rowcount == 0:  # its grant has not reached us yet: remembered for it
                insert_ignoring_duplicates(session, award_marks, [{"award_id": award_id, "revoked": False,
                                                                   "flagged": False}])
                session.execute(update(award_marks).where(award_marks.c.award_id == award_id).values(**change))
            if event.type == "award.revoked":
                _, flagged = self._flag_dependants(str(event.aggregate_id), event.business_date)
                if flagged:
                    self.save(*flagged)
                    return "dependants-flagged"
        return "award-updated"

    # -- eligibility ---------------------------------------------------------------------

    def past_awards(self, subject_id: str) -> list[PastAward]:
        """Every award of the subject, whichever exemplar or department it came through."""
        row = awards_register.c
        of_subject = select(subject_awards.c.award_id).where(subject_awards.c.subject_id == subject_id)
        with self.engine.connect() as conn:
            rows = conn.execute(select(awards_register).where(
                or_(row.award_id.in_(of_subject), row.exemplar_id == subject_id))).mappings().all()
        return [PastAward(award_id=r["award_id"], form=r["award_form"], year=r["year"], achievement=r["achievement"],
                          decision_number=r["decision_number"], revoked=r["revoked"]) for r in rows]

    def on_hold(self, exemplar_id: str) -> bool:
        with self.engine.connect() as conn:
            counted = conn.execute(select(exemplar_holds.c.open_holds)
                                   .where(exemplar_holds.c.exemplar_id == exemplar_id)).scalar()
            open_hold = conn.execute(select(holds.c.hold_id).where(
                holds.c.exemplar_id == exemplar_id, holds.c.released.is_(False))).first()
        return bool(counted) or open_hold is not None

    def eligibility(self, exemplar_id: str, nomination: dict, subject: dict, on: dt.date) -> dict:
        """Judged by the policy in force on ``on``, every run of years counted by the award year
        (the year the achievement is for; an older nomination without one: ``on``'s year), from
        the register and the facts the department sent with the subject."""
        form = nomination["award_form"]
        version = self.policy_on(on)
        return assess(
            form=form, subject_kind=subject["subject_kind"],
            form_subject_kinds=self.catalog.award_forms[form].subject_kinds,
            rule=version.form_rule(form), past_awards=self.past_awards(subject.get("subject_id") or exemplar_id),
            achievement=nomination["achievement"], on_hold=self.on_hold(exemplar_id),
            year=award_year_of(nomination, subject, on.year), scales=version.scales, **subject_facts(subject),
        )

    # -- the secretary's commands ----------------------------------------------------------

    def change_case(self, case_id: Any, command: str, data: dict, caller: dict | None = None) -> dict:
        """One secretary's step on a case; with the caller's idempotency key, a retry of a step
        already stored gets that step's answer (shared.writer)."""
        models = CASE_COMMANDS
        if command not in models:
            raise InvalidInput(f"Thao tác «{command}» không tồn tại.", f"unknown command {command!r}", "command")
        cmd = parse(models[command], data)
        request = requests.Request.of(caller, command, cmd)

        def attempt(case: Case):
            policy = self.policy_on(cmd.business_date)
            arguments = dict(cmd)
            if command in ("record_session", "open_consultation"):
                arguments["policy"] = policy
            if command != "decide":
                return _case_answer(case, getattr(case, command)(**arguments))
            eligibility = self.eligibility(case.exemplar_id, case.nomination, case.subject, cmd.business_date)
            award_id = uuid.uuid4()
            case.decide(policy=policy, eligibility=eligibility, award_id=str(award_id), **arguments)
            award = Award.grant(award_id=award_id, case=case, decision_number=cmd.decision_number, signer=cmd.signer,
                                prerequisite_award_ids=eligibility["prerequisite_award_ids"],
                                business_date=cmd.business_date)
            return _case_answer(case, str(award_id)), [award]

        return self.writer.change(case_id, attempt, request)

    def revoke_award(self, award_id: Any, data: dict, caller: dict | None = None) -> dict:
        """Revoke on a legal ground; flag every later award that counted it as a prerequisite.

        Awards kept by this council are flagged in the same transaction; awards kept by
        other councils are flagged there, when they hear ``award.revoked``.
        """
        cmd = parse(Revoke, data)
        request = requests.Request.of(caller, "revoke", cmd)

        def attempt(award: Award):
            award.revoke(ground=cmd.ground, reason=cmd.reason, decision_number=cmd.decision_number,
                         business_date=cmd.business_date)
            dependant_ids, flagged_here = self._flag_dependants(str(award.id), cmd.business_date)
            return {"id": str(award.id), "ground": REVOCATION_GROUNDS[cmd.ground], "flagged": dependant_ids}, flagged_here

        return self.writer.change(award_id, attempt, request, load=self.get_award)

    def _flag_dependants(self, revoked_id: str, on: dt.date) -> tuple[list[str], list[Award]]:
        """Every award in the register that counted ``revoked_id``; flag those kept here."""
        row = awards_register.c
        with self.engine.connect() as conn:
            dependant_ids = list(conn.execute(
                select(row.award_id).where(row.prerequisite_award_ids.contains(revoked_id)).order_by(row.award_id)
            ).scalars())
        flagged = []
        for dependant_id in dependant_ids:
            try:
                dependant = self.repository.get(uuid.UUID(dependant_id))
            except AggregateNotFoundError:
                continue  # kept by another council: flagged there
            if revoked_id not in dependant.flagged_by:
                dependant.flag_for_review(revoked_award_id=revoked_id, business_date=on)
                flagged.append(dependant)
        return dependant_ids, flagged

    # -- queries -------------------------------------------------------------------------

    def _get(self, kind: type, aggregate_id: Any, label: str):
        try:
            aggregate_id = uuid.UUID(str(aggregate_id))
        except ValueError:
            raise InvalidInput(f"Mã {label} «{aggregate_id}» không hợp lệ.", f"bad id {aggregate_id!r}", "id") from None
        try:
            found = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            found = None
        if not isinstance(found, kind):
            raise NotFound(f"Không tìm thấy {label} «{aggregate_id}».", f"{kind.__name__} {aggregate_id} not found",
                           str(aggregate_id))
        return found

    def get_case(self, case_id: Any) -> Case:
        return self._get(Case, case_id, "hồ sơ")

    def get_award(self, award_id: Any) -> Award:
        return self._get(Award, award_id, "khen thưởng")

    def case_view(self, case_id: Any) -> dict:
        case = self.get_case(case_id)
        return to_jsonable_python({
            "id": case.id, "version": case.version, "status": case.status, "exemplar_id": case.exemplar_id,
            "nomination": case.nomination, "subject": case.subject, "council_level": case.council_level,
            "jurisdiction": case.jurisdiction, "forwarded_from": case.forwarded_from, "opened_on": case.opened_on,
            # recomputed with what is known now (holds, awards), for the nomination's date
            "eligibility": self.eligibility(case.exemplar_id, case.nomination, case.subject, case.opened_on)
            if case.status in OPEN_STATUSES else case.eligibility,
            "eligibility_at_opening": case.eligibility, "approved": case.approved,
            "consultation": case.consultation, "objections": case.objections, "award_id": case.award_id,
        })

    def list_awards(self, filters: dict) -> dict:
        """The awards register, filtered, a page of it: ``{"total": N, "items": [...]}``."""
        wanted = parse(AwardFilter, {k: v for k, v in filters.items() if v not in (None, "")})
        row = awards_register.c
        query = select(awards_register)
        for name, value in wanted.model_dump(exclude_none=True, exclude={"limit", "offset"}).items():
            query = query.where(getattr(row, name) == value)
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(query.subquery())).scalar()
            rows = conn.execute(query.order_by(row.decision_date, row.award_id)
                                .limit(wanted.limit).offset(wanted.offset)).mappings()
            return {"total": total, "items": [dict(r) for r in rows]}


def _case_answer(case: Case, result: Any) -> dict:
    return {"id": str(case.id), "version": case.version, "status": case.status, "result": to_jsonable_python(result)}


def _conflict(aggregate_id: uuid.UUID, why: str) -> ConcurrentChange:
    return ConcurrentChange(
        "Hồ sơ vừa được người khác cập nhật; thao tác của bạn chưa được lưu. Hãy tải lại và thử lại.",
        f"concurrent change on {aggregate_id}: {why}", str(aggregate_id))

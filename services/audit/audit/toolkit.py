"""The auditors' toolkit: read services' logs (never write them), prove them untouched, replay them.

An auditor is given read-only access to each instance's database (``LogSource``). Every
tool reads the log through the eventsourcing library (so old event versions pass through
their upcasters) a page at a time: time grows with the log, memory does not. Snapshots
are never read: every answer comes from the events themselves.

    timeline   one exemplar across every service, in recorded order
    as_of      an exemplar or a case replayed up to a recorded time or a business date
    replay     every read model rebuilt from the logs into fresh tables, compared with the live ones
    verify     the hash chain and the signed checkpoints (shared.integrity), live or from an export
    export     a bundle that verifies offline with nothing but the public keys
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import getpass
import io
import json
import logging
import os
import re
import tarfile
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator
from zoneinfo import ZoneInfo

from eventsourcing.application import Application
from eventsourcing.utils import resolve_topic
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import MetaData, create_engine, select

from shared.errors import InvalidInput, NotFound
from shared.integrity import Checkpoint, Entry, Report, Verifier, merge_by_position
from shared.persistence import DateAsISO, VAR_DIR, eventsourcing_env, sqlalchemy_url
from shared.sealer import audit_checkpoints, audit_seals, checkpoint_of
from shared.signing import TrustedKeys
from shared.wire import SCHEMA_VERSION, describe_event

log = logging.getLogger("exemplars.audit")
templates = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                        autoescape=select_autoescape(["html", "j2"]))  # self-contained pages for auditors
PAGE = 5_000
LOCAL_TIME = ZoneInfo("Asia/Ho_Chi_Minh")  # what an auditor's "09:00" means
LOG_NAMES = {"nominations": "Nominations", "awards": "Awards", "notifications": "Notifications"}
Progress = Callable[[int], None]  # called with how many events were just handled
# Called after each page read; the audit service yields there to its other requests.
between_pages: Callable[[], None] = lambda: None


@dataclass(frozen=True)
class LogSource:
    service: str  # nominations | awards | notifications
    instance: str
    url: str  # database URL; read-only credentials are enough

    @property
    def log_name(self) -> str:
        return LOG_NAMES[self.service]


def default_sources(environ: dict | None = None) -> list[LogSource]:
    """The logs ``AUDIT_SOURCES`` (``service:instance=url,…``) names. The launcher sets it to
    the databases of `make run` (dev.launcher.audit_sources); a deployment names its own."""
    value = dict(os.environ if environ is None else environ).get("AUDIT_SOURCES", "")
    if not value.strip():
        raise InvalidInput("Chưa nêu nhật ký nào để thanh tra (AUDIT_SOURCES hoặc --source).",
                           "AUDIT_SOURCES is not set", "source")
    return parse_sources(item for item in value.split(",") if item.strip())


def parse_sources(items) -> list[LogSource]:
    """``service:instance=url`` items (CLI --source, AUDIT_SOURCES) as sources; bad ones refused."""
    sources = []
    for item in items:
        try:
            kind_instance, url = item.split("=", 1)
            service, instance = (part.strip() for part in kind_instance.split(":", 1))
        except ValueError:
            raise InvalidInput(f"Nguồn «{item}» phải có dạng dịch-vụ:phiên-bản=URL.", f"bad source {item!r}",
                               "source") from None
        if service not in LOG_NAMES:
            raise InvalidInput(f"Dịch vụ «{service}» phải là nominations, awards hoặc notifications.",
                               f"unknown service {service!r}", "source")
        sources.append(LogSource(service, instance, url.strip()))
    return sources


class _ReadOnlyLog(Application):
    """The library's view of one service's log: decode only, never create or save."""

    def register_transcodings(self, transcoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())


@functools.lru_cache(maxsize=64)  # one engine (and pool) per log, however many requests read it
def open_log(source: LogSource) -> Application:
    # The table names derive from the application's name, so the reader takes the service's.
    cls = type(f"{source.log_name}AuditLog", (_ReadOnlyLog,), {"name": source.log_name})
    return cls(env=eventsourcing_env(source.url) | {"CREATE_TABLE": "n"})


def record_use(command: str, **details) -> None:
    """Auditors' own use is logged: who ran what, when (never in a service's log)."""
    entry = {"at": dt.datetime.now(dt.timezone.utc).isoformat(), "user": details.pop("user", None) or _user(),
             "command": command, **{k: str(v) for k, v in details.items() if v is not None}}
    log.info("audit %s by %s: %s", command, entry["user"], json.dumps(details, ensure_ascii=False, default=str))
    path = Path(os.environ.get("AUDIT_LOG_FILE") or VAR_DIR / "log" / "audit.jsonl")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        out.write(json.dumps(entry, ensure_ascii=False) + "\n")


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return f"uid:{os.getuid()}"


# -- reading a log ---------------------------------------------------------------------------


def log_length(app: Application) -> int:
    return app.recorder.max_notification_id() or 0


def notifications(app: Application, stop: int | None = None, progress: Progress | None = None):
    """The log's stored events in order, a page at a time (the one loop every tool reads with)."""
    start = 1
    while True:
        page = app.recorder.select_notifications(start=start, limit=PAGE, stop=stop)
        yield from page
        if progress:
            progress(len(page))
        between_pages()
        if len(page) < PAGE:
            return
        start = page[-1].id + 1


def stored_events(app: Application, progress: Progress | None = None) -> Iterator[dict]:
    """Every stored event as a raw row (state bytes untouched)."""
    for n in notifications(app, progress=progress):
        yield {"notification_id": n.id, "originator_id": str(n.originator_id),
               "originator_version": n.originator_version, "topic": n.topic, "state": n.state}


def described_events(app: Application, stop: int | None = None, progress: Progress | None = None) -> Iterator[dict]:
    """Every event decoded (through its upcasters) and described like a wire event."""
    for n in notifications(app, stop, progress):
        yield describe_event(app.mapper.to_domain_event(n)) | {"notification_id": n.id}


def _seals(engine) -> Iterator[dict]:
    after = 0
    with engine.connect() as conn:
        while True:
            rows = conn.execute(select(audit_seals).where(audit_seals.c.notification_id > after)
                                .order_by(audit_seals.c.notification_id).limit(PAGE)).mappings().all()
            for row in rows:
                yield dict(row)
            between_pages()
            if len(rows) < PAGE:
                return
            after = rows[-1]["notification_id"]


def _checkpoints(engine) -> list[Checkpoint]:
    with engine.connect() as conn:
        return [checkpoint_of(r) for r in conn.execute(select(audit_checkpoints).order_by(audit_checkpoints.c.position))]


def live_entries(app: Application, progress: Progress | None = None) -> Iterator[Entry]:
    return merge_by_position(stored_events(app, progress), _seals(app.recorder.datastore.engine))


# -- verify and export -----------------------------------------------------------------------


def verify_source(source: LogSource, trusted: TrustedKeys, progress: Progress | None = None) -> Report:
    app = open_log(source)
    checkpoints = _checkpoints(app.recorder.datastore.engine)
    return Verifier(source.log_name, source.instance, checkpoints, trusted.verify).feed(live_entries(app, progress))


def _entry_json(entry: Entry) -> str:
    line: dict = {"n": entry.notification_id}
    if entry.event is not None:
        event = dict(entry.event)
        state: bytes = event.pop("state")
        try:
            event["state"] = state.decode("utf-8")
        except UnicodeDecodeError:  # a compressed or encrypted store: keep the bytes exact
            event["state_b64"] = base64.b64encode(state).decode()
        event.pop("notification_id", None)
        line["event"] = event
    if entry.seal is not None:
        line["seal"] = {k: v for k, v in entry.seal.items() if k != "notification_id"}
    return json.dumps(line, ensure_ascii=False, separators=(",", ":"))


def _entry_of(line: str) -> Entry:
    data = json.loads(line)
    event = data.get("event")
    if event is not None:
        if "state_b64" in event:
            event["state"] = base64.b64decode(event.pop("state_b64"))
        else:
            event["state"] = event["state"].encode("utf-8")
    return Entry(data["n"], event=event, seal=data.get("seal"))


def export(sources: list[LogSource], path: Path, trusted: TrustedKeys | None = None,
           progress: Progress | None = None) -> dict:
    """One .tar.gz: a manifest (schema versions), then per instance its signed checkpoints
    and its log as JSON Lines (each event exactly as stored, with its seal), and the public
    keys known here (for reference: a verifier trusts its own copy of the keys)."""
    manifest = {"exported_at": dt.datetime.now(dt.timezone.utc).isoformat(), "wire_schema_version": SCHEMA_VERSION,
                "logs": []}
    path = Path(path)
    with tarfile.open(path, "w:gz") as bundle, tempfile.TemporaryDirectory() as work:
        members = []
        for source in sources:
            app = open_log(source)
            checkpoints = _checkpoints(app.recorder.datastore.engine)
            topics: set[str] = set()
            log_file = Path(work) / f"{source.instance}.log.jsonl"
            count = 0
            with log_file.open("w", encoding="utf-8") as out:
                for entry in live_entries(app, progress):
                    if entry.event is not None:
                        topics.add(entry.event["topic"])
                        count += 1
                    out.write(_entry_json(entry) + "\n")
            manifest["logs"].append({
                "service": source.service, "instance": source.instance, "log": source.log_name, "events": count,
                "checkpoints": len(checkpoints),
                "event_class_versions": {t: getattr(resolve_topic(t), "class_version", 1) for t in sorted(topics)},
            })
            members.append((f"{source.instance}/checkpoints.jsonl",
                            "".join(json.dumps(c.to_json()) + "\n" for c in checkpoints).encode()))
            members.append((f"{source.instance}/log.jsonl", log_file))
        _add(bundle, "manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2).encode())
        for name, content in members:  # checkpoints before each log: verification reads in one pass
            _add(bundle, name, content)
        for instance, pem in (trusted.pems() if trusted else {}).items():
            _add(bundle, f"keys/{instance}.pub", pem.encode())
    return manifest


def _add(bundle: tarfile.TarFile, name: str, content: bytes | Path) -> None:
    if isinstance(content, Path):
        bundle.add(content, arcname=name)
        return
    info = tarfile.TarInfo(name)
    info.size = len(content)
    info.mtime = int(time.time())
    bundle.addfile(info, io.BytesIO(content))


def verify_bundle(path: Path, trusted: TrustedKeys) -> list[Report]:
    """Verify an export offline, reading it once from start to end."""
    try:
        return _verify_bundle(path, trusted)
    except (tarfile.TarError, OSError, EOFError, ValueError, KeyError, TypeError) as error:
        raise InvalidInput(f"«{path}» không phải gói xuất hợp lệ của công cụ thanh tra.",
                           f"not a readable audit bundle: {type(error).__name__}: {error}", "bundle") from None


def _verify_bundle(path: Path, trusted: TrustedKeys) -> list[Report]:
    reports, logs, checkpoints = [], {}, {}
    with tarfile.open(path, "r|gz") as bundle:
        for member in bundle:
            if member.name == "manifest.json":
                logs = {item["instance"]: item for item in json.load(bundle.extractfile(member))["logs"]}
            elif member.name.endswith("/checkpoints.jsonl"):
                instance = member.name.split("/")[0]
                checkpoints[instance] = [Checkpoint(**json.loads(line)) for line in
                                         bundle.extractfile(member).read().decode().splitlines() if line]
            elif member.name.endswith("/log.jsonl"):
                instance = member.name.split("/")[0]
                lines = (raw.decode("utf-8") for raw in bundle.extractfile(member))  # a stream: no seeking
                verifier = Verifier(logs[instance]["log"], instance, checkpoints.get(instance, []), trusted.verify)
                reports.append(verifier.feed(_entry_of(line) for line in lines if line.strip()))
    return reports


# -- timeline and as-of -------------------------------------------------------------------------


def aggregate_id_of(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise InvalidInput(f"Mã «{value}» không hợp lệ (cần mã điển hình hoặc mã hồ sơ).", f"bad id {value!r}",
                           "id") from None


def _aggregate_events(app: Application, aggregate_id: uuid.UUID) -> list:
    return list(app.events.get(aggregate_id))


def timeline(sources: list[LogSource], exemplar_id: str) -> list[dict]:
    """One exemplar's story across services, in recorded order: its own events, its councils'
    cases and awards, and every notification sent about it."""
    exemplar_uuid = aggregate_id_of(exemplar_id)
    entries, related = [], set()
    for source in (s for s in sources if s.service == "nominations"):
        for event in _aggregate_events(open_log(source), exemplar_uuid):
            described = describe_event(event)
            entries.append(_timeline_entry(source, described))
            for key in ("case_id", "award_id"):
                if described["payload"].get(key):
                    related.add(uuid.UUID(described["payload"][key]))
    for source in (s for s in sources if s.service == "awards"):
        app = open_log(source)
        for aggregate_id in related:
            entries.extend(_timeline_entry(source, describe_event(e)) for e in _aggregate_events(app, aggregate_id))
    for source in (s for s in sources if s.service == "notifications"):
        entries.extend(_deliveries_about(source, str(exemplar_uuid)))
    if not entries:
        raise NotFound(f"Không tìm thấy điển hình «{exemplar_id}» trong nhật ký nào.",
                       f"exemplar {exemplar_id} is in no log", str(exemplar_id))
    return sorted(entries, key=lambda e: (_instant(e["recorded_at"]), e["service"], e.get("version") or 0))


def _instant(iso: str | None) -> dt.datetime:
    """Recorded times come with different offsets (the ledger answers in its session's zone)."""
    if not iso:
        return dt.datetime.min.replace(tzinfo=dt.timezone.utc)
    moment = dt.datetime.fromisoformat(iso)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def local_time(iso: str | None) -> str:
    """A recorded time as an officer reads it: Hà Nội time, to the second."""
    return _instant(iso).astimezone(LOCAL_TIME).strftime("%Y-%m-%d %H:%M:%S") if iso else ""


def _timeline_entry(source: LogSource, described: dict) -> dict:
    return {"recorded_at": described["recorded_at"], "business_date": described["business_date"],
            "service": source.service, "instance": source.instance, "type": described["type"],
            "aggregate_id": described["aggregate_id"], "version": described["version"],
            "payload": described["payload"], "recorded_by": described.get("recorded_by")}


def _deliveries_about(source: LogSource, exemplar_id: str) -> list[dict]:
    from notifications.ledger import deliveries, notification_events

    with open_log(source).recorder.datastore.engine.connect() as conn:  # the ledger sits beside the log
        rows = conn.execute(
            select(deliveries, notification_events.c.wire)
            .join(notification_events, notification_events.c.event_key == deliveries.c.event_key)
            .where(notification_events.c.wire.contains(exemplar_id))
            .order_by(deliveries.c.created_at)).mappings().all()
    entries = []
    for row in rows:
        wire = json.loads(row["wire"])
        if exemplar_id not in (wire.get("aggregate_id"), wire.get("payload", {}).get("exemplar_id")):
            continue
        when = row["sent_at"] or row["created_at"]
        entries.append({"recorded_at": when.isoformat() if when else None, "business_date": wire.get("business_date"),
                        "service": "notifications", "instance": source.instance, "type": "notification." + row["status"],
                        "aggregate_id": row["delivery_id"], "version": None,
                        "payload": {"about": wire["type"], "recipient_id": row["recipient_id"],
                                    "channel": row["channel"], "status": row["status"], "event": row["event_key"]}})
    return entries


@dataclass(frozen=True)
class Cutoff:
    """What was known: events recorded up to ``recorded_at``, or dated up to ``business_date``.

    Events apply in the order they were recorded; a business-date cut stops an aggregate at
    its first event dated after the date (a later step cannot have happened before it).
    """

    recorded_at: dt.datetime | None = None
    business_date: dt.date | None = None

    @classmethod
    def parse(cls, value: str | None) -> "Cutoff":
        """``YYYY-MM-DD`` is a business date; a time is a recorded time, read in Hà Nội time
        unless it carries an offset (a "+07:00" that came through a URL as " 07:00" too)."""
        if not value:
            return cls()
        value = value.strip()
        try:
            if "T" in value or " " in value:
                value = re.sub(r"(T\d\d:\d\d(?::\d\d(?:\.\d+)?)?) (\d\d:?\d\d)$", r"\1+\2", value)
                moment = dt.datetime.fromisoformat(value)
                return cls(recorded_at=moment if moment.tzinfo else moment.replace(tzinfo=LOCAL_TIME))
            return cls(business_date=dt.date.fromisoformat(value))
        except ValueError:
            raise InvalidInput(f"Mốc thời gian «{value}» không hợp lệ (YYYY-MM-DD hoặc YYYY-MM-DDTHH:MM).",
                               f"bad as-of {value!r}", "as_of") from None

    def admits(self, described: dict) -> bool:
        if self.recorded_at is not None:
            return dt.datetime.fromisoformat(described["recorded_at"]) <= self.recorded_at
        if self.business_date is not None and described["business_date"]:
            return dt.date.fromisoformat(described["business_date"]) <= self.business_date
        return True


def as_of(sources: list[LogSource], aggregate_id: str, cutoff: Cutoff) -> dict:
    """An exemplar's or a case's state at the cutoff, replayed from its events (no snapshot)."""
    from pydantic_core import to_jsonable_python

    aggregate_uuid = aggregate_id_of(aggregate_id)
    for source in (s for s in sources if s.service in ("nominations", "awards")):
        events = _aggregate_events(open_log(source), aggregate_uuid)
        if not events:
            continue
        aggregate = None
        for event in events:
            if not cutoff.admits(describe_event(event)):
                break
            aggregate = event.mutate(aggregate)
        state = None if aggregate is None else {
            k: v for k, v in vars(aggregate).items() if not k.startswith("_") and k not in ("pending_events",)}
        return to_jsonable_python({"aggregate_id": aggregate_uuid, "service": source.service,
                                   "instance": source.instance, "known": aggregate is not None,
                                   "version": aggregate.version if aggregate else 0, "state": state},
                                  fallback=str)
    raise NotFound(f"Không tìm thấy «{aggregate_id}» trong nhật ký nào.", f"{aggregate_id} is in no log",
                   str(aggregate_id))


# -- replay: read models rebuilt into fresh tables ---------------------------------------------------


def projection_of(service: str):
    if service == "nominations":
        from nominations.projections import ExemplarListProjection
        return ExemplarListProjection
    if service == "awards":
        from awards.projections import CaseListProjection
        return CaseListProjection
    from notifications.projections import SubscriptionsProjection
    return SubscriptionsProjection


def replay_into(app: Application, projection, scratch_engine, cutoff: Cutoff | None = None,
                progress: Progress | None = None, batch: int = PAGE, stop: int | None = None) -> tuple[int, object]:
    """Reduce the log (up to ``stop``) into a fresh copy of the projection's table, named
    ``audit_replay_<table>`` so it can never be the live one; return (events, table)."""
    table = projection.table.to_metadata(MetaData(), name=f"audit_replay_{projection.table.name}")
    table.metadata.drop_all(scratch_engine)
    table.metadata.create_all(scratch_engine)
    # Recorded times only grow along an aggregate, so only a business-date cut must remember
    # which aggregates stopped (see Cutoff).
    remember = cutoff is not None and cutoff.business_date is not None
    count, pending, stopped = 0, [], set()
    with scratch_engine.begin() as conn:
        for described in described_events(app, stop, progress):
            count += 1
            if cutoff is not None:
                if described["aggregate_id"] in stopped:
                    continue
                if not cutoff.admits(described):
                    if remember:
                        stopped.add(described["aggregate_id"])
                    continue
            pending.append(described)
            if len(pending) >= batch:
                projection.apply_batch(conn, table, pending)
                pending = []
        if pending:
            projection.apply_batch(conn, table, pending)
    return count, table


def compare_tables(live_conn, live_table, scratch_engine, scratch_table) -> list[dict]:
    """Rows that differ between the live read model and the replayed one, in key order."""
    key = live_table.primary_key.columns.values()[0].name
    differences = []

    def rows(conn, table):
        for row in conn.execute(select(table).order_by(table.c[key])).mappings():
            yield {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}

    with scratch_engine.connect() as scratch_conn:
        live, fresh = rows(live_conn, live_table), rows(scratch_conn, scratch_table)
        a, b = next(live, None), next(fresh, None)
        while a is not None or b is not None:
            if b is None or (a is not None and a[key] < b[key]):
                differences.append({"key": a[key], "difference": "only in the live table"})
                a = next(live, None)
            elif a is None or b[key] < a[key]:
                differences.append({"key": b[key], "difference": "missing from the live table"})
                b = next(fresh, None)
            else:
                changed = {c: {"live": a[c], "replayed": b[c]} for c in a if a[c] != b.get(c)}
                if changed:
                    differences.append({"key": a[key], "difference": "values differ", "columns": changed})
                a, b = next(live, None), next(fresh, None)
    return differences


def replay(sources: list[LogSource], scratch_url: str | None = None, progress: Progress | None = None) -> list[dict]:
    """Rebuild every read model from its log into fresh tables and compare with the live ones.

    The live table is read in one snapshot together with its position in the log, and the
    log is replayed to that same position: a busy system shows no difference that is only
    events applied meanwhile. The fresh tables go to a scratch database (by default a
    temporary SQLite file), so an auditor needs no write access to any service's database.
    """
    from shared.follower import log_positions

    if scratch_url and any(sqlalchemy_url(scratch_url) == sqlalchemy_url(s.url) for s in sources):
        raise InvalidInput("CSDL nháp không được là CSDL của một dịch vụ.", "scratch database is a source", "scratch")
    results = []
    with tempfile.TemporaryDirectory() as work:
        scratch = create_engine(sqlalchemy_url(scratch_url or f"sqlite:///{work}/replay.sqlite"))
        try:
            for source in sources:
                app = open_log(source)
                projection = projection_of(source.service)
                engine = app.recorder.datastore.engine
                snapshot = {"isolation_level": "REPEATABLE READ"} if engine.dialect.name == "postgresql" else {}
                with engine.connect().execution_options(**snapshot) as live, live.begin():
                    position = live.execute(select(log_positions.c.position).where(
                        log_positions.c.follower == projection.name)).scalar() or 0
                    started = time.perf_counter()
                    count, table = replay_into(app, projection, scratch, progress=progress, stop=position)
                    seconds = time.perf_counter() - started
                    differences = compare_tables(live, projection.table, scratch, table)
                results.append({"instance": source.instance, "read_model": projection.table.name, "events": count,
                                "up_to_position": position, "seconds": round(seconds, 3),
                                "events_per_s": round(count / seconds) if seconds else None,
                                "differences": differences})
                table.metadata.drop_all(scratch)
        finally:
            scratch.dispose()
    return results


def register_as_of(sources: list[LogSource], cutoff: Cutoff) -> Iterator[dict]:
    """Every exemplar's summary row as it stood at the cutoff, from every department's log."""
    from nominations.projections import ExemplarListProjection

    with tempfile.TemporaryDirectory() as work:
        scratch = create_engine(f"sqlite:///{work}/register.sqlite")
        try:
            for source in (s for s in sources if s.service == "nominations"):
                _, table = replay_into(open_log(source), ExemplarListProjection, scratch, cutoff)
                with scratch.connect() as conn:
                    for row in conn.execute(select(table).order_by(table.c.id)).mappings():
                        yield dict(row) | {"instance": source.instance}
        finally:
            scratch.dispose()


def award_register_as_of(sources: list[LogSource], cutoff: Cutoff) -> Iterator[dict]:
    """Every award the councils decided, as their registers stood at the cutoff: each
    ``award.granted`` in a council's own log (an award is stored only by the council that
    granted it), marked ``revoked`` if its ``award.revoked`` is admitted too."""
    from eventsourcing.utils import get_topic

    from awards.domainmodel import Award

    granted, revoked = Award.Granted.wire_type, Award.Revoked.wire_type
    topics = {get_topic(Award.Granted), get_topic(Award.Revoked)}  # cases' events are never decoded
    seen: set[str] = set()
    for source in (s for s in sources if s.service == "awards"):
        app, awards, stopped = open_log(source), {}, set()
        for n in notifications(app):
            key = str(n.originator_id)
            if n.topic not in topics or key in stopped or key in seen:
                continue
            described = describe_event(app.mapper.to_domain_event(n))
            kind = described["type"]
            if not cutoff.admits(described):
                if cutoff.business_date is not None:
                    stopped.add(key)  # as in replay_into: a later step cannot have happened before it
                continue
            if kind == granted:
                payload = described["payload"]
                awards[key] = {"award_id": key, "award_form": payload["award_form"],
                               "subject_kind": payload["subject"]["subject_kind"],
                               "unit": payload["subject"]["unit"], "field": payload["subject"]["field"],
                               "decided_on": dt.date.fromisoformat(described["business_date"]),
                               "decision_number": payload["decision_number"], "revoked": False,
                               "instance": source.instance}
            elif key in awards:
                awards[key]["revoked"] = True
        seen |= set(awards)  # the same log named twice counts once
        yield from awards.values()


def timeline_html(exemplar_id: str, entries: list[dict]) -> str:
    """A self-contained page (no script, no external file) an auditor can keep or send."""
    return templates.get_template("timeline.html.j2").render(
        exemplar_id=exemplar_id, entries=entries, local_time=local_time,
        generated_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))

"""Tamper evidence for a service's log: hash chain, signed checkpoints, verification.

Pure: no database, no files. ``shared.sealer`` writes seals and checkpoints beside the
log; ``shared.audit`` feeds logs (live or exported) through ``verify``.

- Every stored event has a content hash over (originator id, version, topic, state
  bytes) — not its position, so an event moved elsewhere is still recognised.
- The chain folds each event's position and content hash into the previous link:
  changing, removing, inserting or reordering any event changes every later link.
- A checkpoint is the chain's link at a position, signed with the instance's Ed25519
  key. Whoever holds the public key can check a log against it; nobody without the
  private key — a database administrator included — can make a new one.
- A seal is the recorded content hash of one position. Seals are not trusted (they sit
  in the same database); the checkpoints prove them, and they let verification *name*
  which event was changed, removed, inserted or moved instead of only saying "broken".
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Iterable, Iterator

GENESIS = "0" * 64


def event_hash(originator_id: str, originator_version: int, topic: str, state: bytes) -> str:
    digest = hashlib.sha256(f"{originator_id}\n{originator_version}\n{topic}\n".encode())
    digest.update(state)
    return digest.hexdigest()


def next_link(previous: str, notification_id: int, content_hash: str) -> str:
    return hashlib.sha256(f"{previous}:{notification_id}:{content_hash}".encode()).hexdigest()


@dataclass(frozen=True)
class Checkpoint:
    instance: str  # whose key signed it
    log: str  # the application's log, e.g. "Nominations"
    position: int  # the last notification id it covers
    count: int  # how many events the chain holds up to ``position``
    chain_hash: str
    sealed_at: str  # ISO time; signed, and what a retired key is judged by (shared.signing)
    signature: str = ""
    key_id: str = ""  # which of the instance's keys signed; "" in checkpoints signed before keys had ids

    def message(self) -> bytes:
        """What is signed: everything but the signature, canonically. The key id is signed
        when there is one; without, the message is byte for byte what older checkpoints signed."""
        body = {k: v for k, v in asdict(self).items() if k != "signature" and not (k == "key_id" and not v)}
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Entry:
    """One position of a log as verification reads it: the event there, the seal for it.

    Either may be missing (an event never sealed, a sealed event now gone). Live logs and
    exports both become a stream of entries in position order.
    """

    notification_id: int
    event: dict | None = None  # originator_id, originator_version, topic, state (bytes)
    seal: dict | None = None  # originator_id, originator_version, event_hash, chain_hash

    def content_hash(self) -> str | None:
        if self.event is None:
            return None
        e = self.event
        return event_hash(e["originator_id"], e["originator_version"], e["topic"], e["state"])


@dataclass(frozen=True)
class Finding:
    kind: str  # changed | removed | inserted | reordered | seals-altered | checkpoint-mismatch | bad-signature
    #            | unproven
    notification_id: int | None
    detail: str  # English, for logs and reports
    originator_id: str | None = None
    originator_version: int | None = None


KIND_VI = {
    "changed": "bị sửa",
    "removed": "bị xóa",
    "inserted": "bị chèn thêm",
    "reordered": "bị đổi thứ tự",
    "seals-altered": "dấu niêm phong bị sửa",
    "checkpoint-mismatch": "không khớp điểm kiểm tra đã ký",
    "bad-signature": "chữ ký điểm kiểm tra không hợp lệ",
    "unproven": "không có điểm kiểm tra đã ký nào chứng minh",
}


@dataclass
class Report:
    log: str
    instance: str = ""
    events: int = 0  # events read
    proven_up_to: int = 0  # last checkpoint position whose chain matched the log
    checkpoints: int = 0
    unproven_tail: int = 0  # events after the last checkpoint: not yet covered by a signature
    unnamed: int = 0  # suspicious positions beyond what one run names (see Verifier.MAX_PENDING)
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings and not self.unnamed

    def to_json(self) -> dict:
        return {
            "log": self.log, "instance": self.instance, "ok": self.ok, "events": self.events, "proven_up_to": self.proven_up_to,
            "checkpoints": self.checkpoints, "unproven_tail": self.unproven_tail, "unnamed": self.unnamed,
            "findings": [asdict(f) for f in self.findings],
        }


class Verifier:
    """Check a stream of entries against signed checkpoints, in one pass.

    Memory holds only the mismatched positions (to tell a moved event from a changed one),
    never the log. ``verify_signature(instance, message, signature, key_id=, signed_at=) -> bool``
    (shared.signing.TrustedKeys.verify) comes from the auditor's own trusted keys, not from the
    bundle being checked: each checkpoint is judged by the key in force when it was sealed.
    """

    MAX_PENDING = 100_000  # suspicious positions named per run; beyond that they are only counted

    def __init__(self, log: str, instance: str, checkpoints: Iterable[Checkpoint], verify_signature):
        """``instance`` is whose log this is: only its own key may sign its checkpoints (two
        departments both keep a "Nominations" log)."""
        self.report = Report(log, instance)
        self.checkpoints: list[Checkpoint] = []
        for checkpoint in sorted(checkpoints, key=lambda c: c.position):
            if checkpoint.log != log or checkpoint.instance != instance:
                self._find("bad-signature", checkpoint.position,
                           f"checkpoint at {checkpoint.position} claims {checkpoint.instance}/{checkpoint.log}, "
                           f"not {instance}/{log}")
            elif verify_signature(instance, checkpoint.message(), checkpoint.signature,
                                  key_id=checkpoint.key_id or None, signed_at=checkpoint.sealed_at):
                self.checkpoints.append(checkpoint)
            else:
                key = f"key {checkpoint.key_id}" if checkpoint.key_id else "a key without id"
                self._find("bad-signature", checkpoint.position,
                           f"checkpoint at {checkpoint.position} (sealed {checkpoint.sealed_at}, {key}) is not "
                           f"signed by {instance}'s trusted key in force then")
        self.report.checkpoints = len(self.checkpoints)
        self._log_link = self._seal_link = GENESIS
        self._count = 0
        self._broken = False  # a range failed: positions after it are not proven, whatever follows
        self._next_checkpoint = 0
        self._range_start = 0
        self._unmatched_events: dict[str, Entry] = {}  # content hash -> entry (suspicious positions)
        self._unmatched_seals: dict[str, Entry] = {}  # sealed hash -> entry

    @property
    def last_position(self) -> int:
        return self.checkpoints[-1].position if self.checkpoints else 0

    def _find(self, kind: str, position: int | None, detail: str, about: dict | None = None) -> None:
        about = about or {}
        self.report.findings.append(Finding(kind, position, detail, about.get("originator_id"),
                                            about.get("originator_version")))

    def feed(self, entries: Iterable[Entry]) -> Report:
        for entry in entries:
            self._pass_checkpoints_before(entry.notification_id)
            self._take(entry)
        self._pass_checkpoints_before(None)
        self._name_suspects()
        if self.report.events and not self.checkpoints:
            self._find("unproven", None, f"{self.report.events} events and no trusted checkpoint: nothing is proven")
        return self.report

    def _take(self, entry: Entry) -> None:
        content = entry.content_hash()
        if entry.event is not None:
            self.report.events += 1
            self._count += 1
            self._log_link = next_link(self._log_link, entry.notification_id, content)
            if entry.notification_id > self.last_position:
                self.report.unproven_tail += 1
        if entry.seal is not None:
            self._seal_link = next_link(self._seal_link, entry.notification_id, entry.seal["event_hash"])
        sealed = entry.seal["event_hash"] if entry.seal else None
        if content == sealed or (sealed is None and entry.notification_id > self.last_position):
            return  # as sealed, or simply not sealed yet
        if len(self._unmatched_events) + len(self._unmatched_seals) >= 2 * self.MAX_PENDING:
            self.report.unnamed += 1
            return
        light = _without_state(entry)  # what naming needs; never the events' bytes
        if content is not None:
            self._unmatched_events[content] = light
        if sealed is not None:
            self._unmatched_seals[sealed] = light

    def _pass_checkpoints_before(self, position: int | None) -> None:
        """Compare the chains at every checkpoint that ``position`` has gone past."""
        while self._next_checkpoint < len(self.checkpoints):
            checkpoint = self.checkpoints[self._next_checkpoint]
            if position is not None and position <= checkpoint.position:
                return
            span = f"({self._range_start}, {checkpoint.position}]"
            if self._log_link == checkpoint.chain_hash and self._count == checkpoint.count:
                if not self._broken:
                    self.report.proven_up_to = checkpoint.position
            else:
                self._broken = True
                self._find("checkpoint-mismatch", checkpoint.position,
                           f"the log in {span} does not match the signed checkpoint at {checkpoint.position}")
                # judge the next range on its own: one edit is one finding, not one per later checkpoint
                self._log_link, self._count = checkpoint.chain_hash, checkpoint.count
            if self._seal_link != checkpoint.chain_hash:
                self._find("seals-altered", checkpoint.position,
                           f"the seals in {span} were altered; positions named there may be incomplete")
                self._seal_link = checkpoint.chain_hash  # judge the next range on its own
            self._range_start = checkpoint.position
            self._next_checkpoint += 1

    def _name_suspects(self) -> None:
        """Each suspicious position becomes one named finding."""
        for content, entry in sorted(self._unmatched_events.items(), key=lambda kv: kv[1].notification_id):
            event = entry.event
            moved_from = self._unmatched_seals.pop(content, None)
            if moved_from is not None and moved_from.notification_id != entry.notification_id:
                self._find("reordered", entry.notification_id,
                           f"event {event['originator_id']} v{event['originator_version']} was sealed at "
                           f"position {moved_from.notification_id} and is now at {entry.notification_id}", event)
            elif entry.seal is not None and (entry.seal["originator_id"], entry.seal["originator_version"]) == (
                    event["originator_id"], event["originator_version"]):
                self._unmatched_seals.pop(entry.seal["event_hash"], None)
                self._find("changed", entry.notification_id,
                           f"event {event['originator_id']} v{event['originator_version']} at position "
                           f"{entry.notification_id} differs from what was sealed", event)
            else:
                self._find("inserted", entry.notification_id,
                           f"event {event['originator_id']} v{event['originator_version']} at position "
                           f"{entry.notification_id} was never sealed", event)
        for entry in sorted(self._unmatched_seals.values(), key=lambda e: e.notification_id):
            if entry.event is None or (entry.event["originator_id"], entry.event["originator_version"]) != (
                    entry.seal["originator_id"], entry.seal["originator_version"]):
                self._find("removed", entry.notification_id,
                           f"event {entry.seal['originator_id']} v{entry.seal['originator_version']} sealed at "
                           f"position {entry.notification_id} is missing", entry.seal)
        self.report.findings.sort(key=lambda f: (f.notification_id or 0, f.kind))


def _without_state(entry: Entry) -> Entry:
    if entry.event is None:
        return entry
    return Entry(entry.notification_id, {k: v for k, v in entry.event.items() if k != "state"}, entry.seal)


def merge_by_position(events: Iterator[dict], seals: Iterator[dict]) -> Iterator[Entry]:
    """Join two position-ordered streams (events with ``notification_id``, seals likewise)."""
    event, seal = next(events, None), next(seals, None)
    while event is not None or seal is not None:
        if seal is None or (event is not None and event["notification_id"] < seal["notification_id"]):
            yield Entry(event["notification_id"], event=event)
            event = next(events, None)
        elif event is None or seal["notification_id"] < event["notification_id"]:
            yield Entry(seal["notification_id"], seal=seal)
            seal = next(seals, None)
        else:
            yield Entry(event["notification_id"], event=event, seal=seal)
            event, seal = next(events, None), next(seals, None)

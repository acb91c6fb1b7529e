"""The sealer: follows a service's log after commit, seals each event into the hash chain
and signs a checkpoint of the chain now and then (see shared.integrity).

It runs in the service's background loop, like the read models. Seals and checkpoints
live beside the log in the service's own database; they never change the log.
"""

from __future__ import annotations

import datetime as dt
import logging
import time

from eventsourcing.application import Application
from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, insert, select
from sqlalchemy.exc import IntegrityError

from shared.integrity import GENESIS, Checkpoint, event_hash, next_link
from shared.migrations import migrate
from shared.signing import Signer

log = logging.getLogger(__name__)

metadata = MetaData()
audit_seals = Table(
    "audit_seals",
    metadata,
    Column("notification_id", BigInteger, primary_key=True),
    Column("seq", BigInteger, nullable=False),  # how many events the chain holds up to here
    Column("originator_id", String(36), nullable=False),
    Column("originator_version", Integer, nullable=False),
    Column("event_hash", String(64), nullable=False),
    Column("chain_hash", String(64), nullable=False),
)
audit_checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("position", BigInteger, primary_key=True),
    Column("instance", String(200), nullable=False),
    Column("log", String(100), nullable=False),
    Column("count", BigInteger, nullable=False),
    Column("chain_hash", String(64), nullable=False),
    Column("sealed_at", String(40), nullable=False),
    Column("signature", String(200), nullable=False),
    Column("key_id", String(16), nullable=True),  # None: signed before keys had ids
)


def checkpoint_of(row) -> Checkpoint:
    return Checkpoint(instance=row.instance, log=row.log, position=row.position, count=row.count,
                      chain_hash=row.chain_hash, sealed_at=row.sealed_at, signature=row.signature,
                      key_id=getattr(row, "key_id", None) or "")


class SealsRolledBack(Exception):
    """Seals or checkpoints this process made are gone: someone is rewriting the tail."""


class Sealer:
    def __init__(self, app: Application, signer: Signer, batch_size: int = 1000,
                 checkpoint_every: int = 1000, checkpoint_after_s: float = 5.0):
        self.app = app
        self.signer = signer
        self.log_name = app.name
        self.engine = app.recorder.datastore.engine
        self.batch_size = batch_size
        self.checkpoint_every = checkpoint_every
        self.checkpoint_after_s = checkpoint_after_s
        self._last_checkpoint_at = time.monotonic()
        # What this process sealed and signed, kept outside the database: if the newest seals
        # and checkpoints are deleted, re-sealing would bless whatever was put in their place.
        self._sealed_up_to = 0
        self._signed_up_to = 0
        migrate(self.engine, "audit")  # tables made before keys had ids get key_id (audit_0002)

    def seal_pending(self, checkpoint: bool | None = None) -> int:
        """Seal everything stored so far; sign a checkpoint when enough was sealed, when the
        last one is old, or when asked (``checkpoint=True``). Returns how many were sealed."""
        sealed = 0
        while True:
            try:
                count = self._seal_batch()
            except IntegrityError:
                continue  # another copy of this instance sealed the same positions first
            sealed += count
            if count < self.batch_size:
                break
        self._maybe_checkpoint(checkpoint)
        return sealed

    def _head(self, conn) -> tuple[int, int, str]:
        row = conn.execute(select(audit_seals.c.notification_id, audit_seals.c.seq, audit_seals.c.chain_hash)
                           .order_by(audit_seals.c.notification_id.desc()).limit(1)).first()
        return (row.notification_id, row.seq, row.chain_hash) if row else (0, 0, GENESIS)

    def _seal_batch(self) -> int:
        with self.engine.begin() as conn:
            position, seq, link = self._head(conn)
            if position < self._sealed_up_to:
                log.error("log %s: seals after position %d, which this process made, are gone; refusing to seal "
                          "again (an auditor's verify will name what changed)", self.log_name, position)
                raise SealsRolledBack(f"{self.log_name}: seals rolled back from {self._sealed_up_to} to {position}")
            batch = self.app.recorder.select_notifications(start=position + 1, limit=self.batch_size)
            rows = []
            for n in batch:
                content = event_hash(str(n.originator_id), n.originator_version, n.topic, n.state)
                link = next_link(link, n.id, content)
                seq += 1
                rows.append({"notification_id": n.id, "seq": seq, "originator_id": str(n.originator_id),
                             "originator_version": n.originator_version, "event_hash": content, "chain_hash": link})
            if rows:
                conn.execute(insert(audit_seals), rows)
        if rows:
            self._sealed_up_to = rows[-1]["notification_id"]
        return len(rows)

    def _maybe_checkpoint(self, force: bool | None) -> None:
        if force is False:
            return
        with self.engine.connect() as conn:
            position, seq, link = self._head(conn)
            last = conn.execute(select(audit_checkpoints.c.position, audit_checkpoints.c.count)
                                .order_by(audit_checkpoints.c.position.desc()).limit(1)).first()
        if (last.position if last else 0) < self._signed_up_to:
            log.error("log %s: checkpoints after position %d, which this process signed, are gone; refusing to sign",
                      self.log_name, last.position if last else 0)
            raise SealsRolledBack(f"{self.log_name}: checkpoints rolled back below {self._signed_up_to}")
        since = seq - (last.count if last else 0)
        due = since >= self.checkpoint_every or time.monotonic() - self._last_checkpoint_at >= self.checkpoint_after_s
        if since == 0 or not (force or due):
            return
        key = self.signer.current()  # one key for the id and the signature, even mid-rotation
        checkpoint = Checkpoint(instance=self.signer.instance, log=self.log_name, position=position, count=seq,
                                chain_hash=link, sealed_at=dt.datetime.now(dt.timezone.utc).isoformat(),
                                key_id=key.key_id)
        signed = Checkpoint(**{**checkpoint.to_json(), "signature": key.sign(checkpoint.message())})
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(audit_checkpoints).values(**signed.to_json()))
        except IntegrityError:
            return  # another copy signed this very position
        self._last_checkpoint_at = time.monotonic()
        self._signed_up_to = position
        log.info("log %s sealed and signed up to position %d (%d events)", self.log_name, position, seq)

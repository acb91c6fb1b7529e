"""Read models' tables: created once by processes starting together; rows inserted ignoring duplicates.
(Tables that cannot be rebuilt from the log migrate instead: test_migrations.)"""

import datetime as dt
import threading

import pytest
from sqlalchemy import create_engine, inspect, select
from sqlalchemy.orm import Session

from nominations.projections import metadata as read_model_metadata
from notifications.ledger import inbox
from shared.migrations import migrate
from shared.persistence import sqlalchemy_url
from shared.schema import create_tables, insert_ignoring_duplicates

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("starters", [8])
def test_concurrent_starts_create_the_tables_once_without_errors(postgres_url, tmp_path, starters):
    for url in (postgres_url, f"sqlite:///{tmp_path / 'shared.sqlite'}"):
        engines = [create_engine(sqlalchemy_url(url)) for _ in range(starters)]
        errors, gate = [], threading.Barrier(starters)

        def start(engine):
            gate.wait()  # everyone checks "does it exist?" at the same moment
            try:
                create_tables(read_model_metadata, engine)
            except Exception as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)

        threads = [threading.Thread(target=start, args=(engine,)) for engine in engines]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == [], url
        assert set(read_model_metadata.tables) <= set(inspect(engines[0]).get_table_names())
        for engine in engines:
            engine.dispose()


def test_insert_ignoring_duplicates_keeps_the_first_fills_defaults_and_joins_the_transaction(database_url):
    engine = create_engine(sqlalchemy_url(database_url))
    migrate(engine, "ledger")
    created = dt.datetime(2026, 11, 24, 8, 30, tzinfo=dt.timezone.utc)

    def row(n: int, subject: str) -> dict:  # no "read": the column's default (False) fills it
        return {"delivery_id": f"d-{n}", "recipient_id": "hoi-nong-dan-yen-the", "subject": subject,
                "body": "Gương điển hình tiên tiến", "created_at": created}

    with engine.begin() as conn:
        insert_ignoring_duplicates(conn, inbox, [row(n, f"Thông báo {n}") for n in range(1500)])
    with Session(engine) as session, session.begin():  # a Session's transaction, as the fan-out uses
        insert_ignoring_duplicates(session, inbox, [row(7, "bị bỏ qua"), row(1500, "mới")])
    with pytest.raises(RuntimeError):  # rows of a transaction that fails are not kept
        with engine.begin() as conn:
            insert_ignoring_duplicates(conn, inbox, [row(1501, "không lưu")])
            raise RuntimeError("the caller fails after inserting")
    with engine.connect() as conn:
        rows = {r.delivery_id: r for r in conn.execute(select(inbox))}
    assert len(rows) == 1501
    assert rows["d-7"].subject == "Thông báo 7"  # the duplicate changed nothing
    assert rows["d-1500"].subject == "mới" and rows["d-1500"].read is False
    assert rows["d-0"].created_at.replace(tzinfo=dt.timezone.utc) == created  # SQLite keeps no zone
    engine.dispose()

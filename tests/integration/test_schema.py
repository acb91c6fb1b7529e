"""Processes starting together on one fresh database all get their tables, none fails."""

import threading

import pytest
from sqlalchemy import create_engine, inspect

from notifications.ledger import metadata as ledger_metadata
from shared.persistence import sqlalchemy_url
from shared.schema import create_tables

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("starters", [8])
def test_concurrent_starts_create_the_tables_once_without_errors(postgres_url, tmp_path, starters):
    for url in (postgres_url, f"sqlite:///{tmp_path / 'shared.sqlite'}"):
        engines = [create_engine(sqlalchemy_url(url)) for _ in range(starters)]
        errors, gate = [], threading.Barrier(starters)

        def start(engine):
            gate.wait()  # everyone checks "does it exist?" at the same moment
            try:
                create_tables(ledger_metadata, engine)
            except Exception as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)

        threads = [threading.Thread(target=start, args=(engine,)) for engine in engines]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == [], url
        assert set(ledger_metadata.tables) <= set(inspect(engines[0]).get_table_names())
        for engine in engines:
            engine.dispose()

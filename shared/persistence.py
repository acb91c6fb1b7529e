"""How every service's eventsourcing Application is persisted: SQLAlchemy, SQLite or PostgreSQL."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from eventsourcing.persistence import Transcoding

PROJECT_ROOT = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("EXEMPLARS_VAR_DIR", PROJECT_ROOT / "var"))


class DateAsISO(Transcoding):
    """Business dates are calendar dates, stored as 'YYYY-MM-DD'."""

    type = dt.date
    name = "date_iso"

    def encode(self, obj: dt.date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> dt.date:
        return dt.date.fromisoformat(data)


def default_database_url(service: str) -> str:
    """The embedded default behind `make run`: one SQLite file per service under var/."""
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{VAR_DIR / (service + '.sqlite')}"


def sqlalchemy_url(database_url: str) -> str:
    """The URL SQLAlchemy connects with: psycopg2 for PostgreSQL; a SQLite file's folder exists."""
    if database_url.startswith("sqlite:///"):
        Path(database_url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    if database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg2://" + database_url[len("postgresql://"):]
    return database_url


def eventsourcing_env(database_url: str) -> dict[str, str]:
    """Environment for an eventsourcing Application persisted through SQLAlchemy."""
    return {
        "PERSISTENCE_MODULE": "shared.recorders:StoreFactory",  # the library's, made lean
        "SQLALCHEMY_URL": sqlalchemy_url(database_url),
        "CREATE_TABLE": "y",
    }

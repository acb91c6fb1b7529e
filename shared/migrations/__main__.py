"""By hand, what every process does at start, and a new revision.

  python -m shared.migrations upgrade SERVICE URL    bring SERVICE's units in that database to head
                                                     (exit 1 if a newer release migrated it)
  python -m shared.migrations current SERVICE URL    each unit's revision there, and this code's head
  python -m shared.migrations check SERVICE URL      exit 1 when its tables differ from the models
  python -m shared.migrations revision UNIT -m WHAT  a new revision in versions/UNIT/, drafted by
                                                     comparing the models with a scratch database at head

SERVICE is nominations, awards or notifications; URL is the service's own database URL
(NOMINATIONS_DATABASE_URL, …): sqlite:///var/nominations.sqlite, postgresql://user@host/db.
"""

from __future__ import annotations

import argparse
import sys
import tempfile

from sqlalchemy import create_engine

from shared.migrations import SERVICES, UNITS, SchemaAhead, config, current_revisions, differences, migrate
from shared.persistence import sqlalchemy_url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.migrations", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("upgrade", "current", "check"):
        command = commands.add_parser(name)
        command.add_argument("service", choices=sorted(SERVICES))
        command.add_argument("url")
    revision = commands.add_parser("revision")
    revision.add_argument("unit", choices=sorted(UNITS))
    revision.add_argument("-m", "--message", required=True)
    args = parser.parse_args(argv)
    if args.command == "revision":
        print(new_revision(args.unit, args.message))
        return 0

    engine = create_engine(sqlalchemy_url(args.url))
    status = 0
    try:
        for name in SERVICES[args.service]:
            unit = UNITS[name]
            if args.command == "upgrade":
                migrate(engine, name, refuse_newer=True)
            with engine.connect() as conn:
                current = ", ".join(sorted(current_revisions(conn, unit))) or "none"
                found = differences(conn, unit) if args.command == "check" else []
            print(f"{name:10} {unit.version_table:26} {current:16} head {unit.head()}")
            for difference in found:
                print(f"  differs from the models: {difference}")
                status = 1
    finally:
        engine.dispose()
    return status


def new_revision(name: str, message: str) -> str:
    from alembic import command

    unit = UNITS[name]
    number = int(unit.head().rsplit("_", 1)[1]) + 1
    with tempfile.TemporaryDirectory() as scratch:
        engine = create_engine(f"sqlite:///{scratch}/head.sqlite")
        migrate(engine, name)
        with engine.begin() as conn:
            cfg = config(conn, unit)
            cfg.set_main_option("file_template", f"{number:04d}_%%(slug)s")
            script = command.revision(cfg, message=message, autogenerate=True, rev_id=f"{name}_{number:04d}",
                                      version_path=str(unit.versions))
        engine.dispose()
    return script.path


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SchemaAhead as error:
        sys.exit(f"error: {error}")  # (exit status 1)

"""The council topology, dated: which councils exist, their level, whom they answer to, and
which council each department's nominations go to — each fact with the dates it is in force.

Pure: the topology is data (``councils.yaml`` in the catalog folder), read and checked
once at start; every question is asked for a business date. Since 2025-07-01 there is no
district level (Decree 129/2025) and provinces were merged, so the same department sends a
2018 nomination to its district and a 2026 one to its commune: history before the change
keeps its district because it is routed by its own date.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

LEVELS = ("commune", "district", "province", "national")  # lowest first: forwarding goes up
FILE_NAME = "councils.yaml"
CODE = re.compile(r"^[a-z0-9][a-z0-9-]{0,80}$")


class TopologyError(Exception):
    """The topology file is missing, unreadable or inconsistent (raised at start)."""


class Dated(BaseModel):
    """In force from ``valid_from`` to ``valid_until``, both days included; open where absent."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None

    @model_validator(mode="after")
    def _in_order(self):
        if self.valid_from and self.valid_until and self.valid_until < self.valid_from:
            raise ValueError("valid_until is before valid_from")
        return self

    def in_force(self, on: dt.date) -> bool:
        return (self.valid_from is None or self.valid_from <= on) and (self.valid_until is None or on <= self.valid_until)

    def span(self) -> str:
        start = self.valid_from.strftime("%d/%m/%Y") if self.valid_from else "…"
        end = self.valid_until.strftime("%d/%m/%Y") if self.valid_until else "nay"
        return f"{start} – {end}"


class Link(Dated):
    council: str


class Council(Dated):
    """One council (hội đồng thi đua – khen thưởng) and the area it speaks for."""

    code: str
    name: str
    level: str
    parents: tuple[Link, ...] = ()  # whom it forwards to, dated (a merged province changes it)
    covers: tuple[str, ...] = ()  # the former units whose area it takes over, as officers know them
    to_confirm: str | None = None  # a name or date not yet checked against its legal source

    @model_validator(mode="after")
    def _known_level(self):
        if self.level not in LEVELS:
            raise ValueError(f"level {self.level!r} is not one of {', '.join(LEVELS)}")
        return self

    @property
    def jurisdiction(self) -> str:
        """The code as the wire events and routing keys name it."""
        return self.code

    def parent_on(self, on: dt.date) -> str | None:
        return next((link.council for link in self.parents if link.in_force(on)), None)


class Department(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)
    code: str
    name: str
    nominates_to: tuple[Link, ...]


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    councils: tuple[Council, ...]
    departments: tuple[Department, ...] = ()


@dataclass(frozen=True)
class Topology:
    councils: dict[str, Council]
    departments: dict[str, Department]

    def council(self, code: str) -> Council:
        try:
            return self.councils[code]
        except KeyError:
            raise LookupError(f"council {code!r} is not in the topology") from None

    def nominating_council(self, department: str, on: dt.date) -> Council | None:
        """The council a department's nomination dated ``on`` goes to (None: no council then)."""
        entry = self.departments.get(department)
        if entry is None:
            return None
        code = next((link.council for link in entry.nominates_to if link.in_force(on)), None)
        return self.councils[code] if code else None

    def parent(self, code: str, on: dt.date) -> Council | None:
        parent = self.council(code).parent_on(on)
        return self.councils[parent] if parent else None

    def above(self, code: str, on: dt.date) -> list[Council]:
        """Every council above ``code`` on that date, nearest first."""
        chain, current = [], self.parent(code, on)
        while current is not None:
            chain.append(current)
            current = self.parent(current.code, on)
        return chain

    def in_force_on(self, on: dt.date) -> list[Council]:
        return [council for council in self.councils.values() if council.in_force(on)]


def _overlapping(periods: tuple[Dated, ...]) -> bool:
    ordered = sorted(periods, key=lambda p: p.valid_from or dt.date.min)
    for earlier, later in zip(ordered, ordered[1:]):
        if earlier.valid_until is None or (later.valid_from or dt.date.min) <= earlier.valid_until:
            return True
    return False


def _window(*periods: Dated) -> tuple[dt.date, dt.date] | None:
    """Where all the periods are in force together (None: never)."""
    start = max((p.valid_from for p in periods if p.valid_from), default=dt.date.min)
    end = min((p.valid_until for p in periods if p.valid_until), default=dt.date.max)
    return (start, end) if start <= end else None


def _check(topology: Topology, path: Path) -> None:
    """Every name refers to something, in force whenever it is referred to; nothing routes down."""
    def fail(message: str):
        raise TopologyError(f"{path}: {message}")

    for council in topology.councils.values():
        if not CODE.match(council.code):
            fail(f"council code {council.code!r} must be lower-case letters, digits and '-'")
        if _overlapping(council.parents):
            fail(f"council {council.code!r}: two parents in force on the same day")
        for link in council.parents:
            parent = topology.councils.get(link.council)
            if parent is None:
                fail(f"council {council.code!r}: unknown parent {link.council!r}")
            if LEVELS.index(parent.level) <= LEVELS.index(council.level):
                fail(f"council {council.code!r} ({council.level}) cannot answer to {parent.code!r} ({parent.level})")
            window = _window(council, link)
            if window and not (parent.in_force(window[0]) and parent.in_force(window[1])):
                fail(f"council {council.code!r}: parent {parent.code!r} is not in force for all of "
                     f"{window[0]} – {window[1]}")
    for department in topology.departments.values():
        if not CODE.match(department.code):
            fail(f"department code {department.code!r} must be lower-case letters, digits and '-'")
        if not department.nominates_to:
            fail(f"department {department.code!r} names no council")
        if _overlapping(department.nominates_to):
            fail(f"department {department.code!r}: two councils in force on the same day")
        for link in department.nominates_to:
            council = topology.councils.get(link.council)
            if council is None:
                fail(f"department {department.code!r}: unknown council {link.council!r}")
            window = _window(link)
            if window and not (council.in_force(window[0]) and council.in_force(window[1])):
                fail(f"department {department.code!r}: council {council.code!r} is not in force for all of "
                     f"{link.span()}")


def load_topology(directory: Path | str) -> Topology:
    """Read and check ``councils.yaml`` in the catalog folder; raise TopologyError naming what is wrong."""
    path = Path(directory) / FILE_NAME
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TopologyError(f"topology file {path} is missing") from None
    except (OSError, yaml.YAMLError) as exc:
        raise TopologyError(f"topology file {path} cannot be read: {exc}") from None
    try:
        parsed = _File.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise TopologyError(f"{path}: {problems}") from None
    councils, departments = {}, {}
    for council in parsed.councils:
        if council.code in councils:
            raise TopologyError(f"{path}: council {council.code!r} appears twice")
        councils[council.code] = council
    for department in parsed.departments:
        if department.code in departments:
            raise TopologyError(f"{path}: department {department.code!r} appears twice")
        departments[department.code] = department
    topology = Topology(councils, departments)
    _check(topology, path)
    return topology

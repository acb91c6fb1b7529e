"""Catalogs: fields, movements, subject kinds, award forms and the dated council topology
(``shared.topology``), read from YAML data files.

Deployments edit the files, not code. A broken file stops the service at start with a
message naming the file and the entry (``CatalogError``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from shared.topology import Topology, TopologyError, load_topology

DEFAULT_DIR = Path(__file__).parent / "catalogs"
CODE_PATTERN = r"^[a-z0-9][a-z0-9-]*$"


class CatalogError(Exception):
    """A catalog file is missing, unreadable or has an invalid entry."""


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class SubjectKind(_Entry):
    code: str
    name: str


class Field(_Entry):
    code: str
    name: str
    lead_unit: str


class Movement(_Entry):
    code: str
    name: str
    start_year: int
    end_year: int

    @model_validator(mode="after")
    def _period_in_order(self):
        if self.end_year < self.start_year:
            raise ValueError("end_year is before start_year")
        return self


class AwardForm(_Entry):
    code: str
    name: str
    subject_kinds: tuple[str, ...]

    @field_validator("subject_kinds")
    @classmethod
    def _not_empty(cls, value):
        if not value:
            raise ValueError("subject_kinds must not be empty")
        return value


_FILES = {
    "subject_kinds": ("subject_kinds.yaml", SubjectKind),
    "fields": ("fields.yaml", Field),
    "movements": ("movements.yaml", Movement),
    "award_forms": ("award_forms.yaml", AwardForm),
}


@dataclass(frozen=True)
class Catalog:
    subject_kinds: dict[str, SubjectKind]
    fields: dict[str, Field]
    movements: dict[str, Movement]
    award_forms: dict[str, AwardForm]
    topology: Topology


def _load_file(path: Path, model: type[_Entry]) -> dict[str, _Entry]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogError(f"catalog file {path} is missing") from None
    except yaml.YAMLError as exc:
        raise CatalogError(f"catalog file {path} is not valid YAML: {exc}") from None
    if not isinstance(raw, list) or not raw:
        raise CatalogError(f"catalog file {path} must be a non-empty list of entries")
    entries: dict[str, _Entry] = {}
    for position, item in enumerate(raw, start=1):
        label = item.get("code") if isinstance(item, dict) else None
        where = f"{path}, entry {position}" + (f" ({label!r})" if label else "")
        try:
            entry = model.model_validate(item)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'entry'}: {err['msg']}"
                for err in exc.errors()
            )
            raise CatalogError(f"{where}: {problems}") from None
        if not re.match(CODE_PATTERN, entry.code):
            raise CatalogError(f"{where}: code {entry.code!r} must be lower-case letters, digits and '-'")
        if entry.code in entries:
            raise CatalogError(f"{where}: code {entry.code!r} appears twice")
        entries[entry.code] = entry
    return entries


def load_catalog(directory: Path | str | None = None) -> Catalog:
    """Read and cross-check every catalog file; raise CatalogError naming file and entry."""
    directory = Path(directory) if directory else DEFAULT_DIR
    loaded = {key: _load_file(directory / name, model) for key, (name, model) in _FILES.items()}
    kinds = loaded["subject_kinds"]
    for position, form in enumerate(loaded["award_forms"].values(), start=1):
        for kind in form.subject_kinds:
            if kind not in kinds:
                raise CatalogError(
                    f"{directory / 'award_forms.yaml'}, entry {position} ({form.code!r}): "
                    f"unknown subject kind {kind!r}"
                )
    try:
        topology = load_topology(directory)
    except TopologyError as exc:
        raise CatalogError(str(exc)) from None
    return Catalog(**loaded, topology=topology)

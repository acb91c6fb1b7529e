"""Award policy: which council may grant which form, votes, consultation, prerequisites.

Pure: the policy is data (``shared/policy/awards.yaml``) read once; every question is
asked for a date and answered by the version in force on that date.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

import shared
from shared.catalog import Catalog, CatalogError

DEFAULT_FILE = Path(shared.__file__).parent / "policy" / "awards.yaml"


class Prerequisite(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    form: str
    consecutive_years: int = Field(ge=1)


def fraction(value: str) -> Fraction:
    """'2/3' -> Fraction(2, 3): exact, so 20 of 30 members is a quorum."""
    result = Fraction(value)
    if not 0 < result <= 1:
        raise ValueError(f"{value!r} is not a fraction in (0, 1]")
    return result


class FormRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("vote_threshold")
    @classmethod
    def _is_fraction(cls, value: str) -> str:
        fraction(value)
        return value

    def vote_passes(self, members: int, present: int, in_favour: int) -> bool:
        base = members if self.vote_base == "members" else present
        needed = base * fraction(self.vote_threshold)
        return in_favour > needed if self.strictly_more else in_favour >= needed

    vote_base: str = "present"  # "present" or "members"
    vote_threshold: str = "1/2"
    strictly_more: bool = True
    consultation_days: int = Field(0, ge=0)
    prerequisites: tuple[Prerequisite, ...] = ()


class PolicyVersion(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    effective_from: dt.date
    source: str
    levels: tuple[str, ...]
    level_names: dict[str, str]
    authority: dict[str, tuple[str, ...]]
    quorum: str
    default_form: FormRule
    forms: dict[str, FormRule] = {}

    @field_validator("quorum")
    @classmethod
    def _quorum_is_fraction(cls, value: str) -> str:
        fraction(value)
        return value

    def has_quorum(self, members: int, present: int) -> bool:
        return present >= members * fraction(self.quorum)

    def form_rule(self, form: str) -> FormRule:
        if form not in self.forms:
            return self.default_form
        return FormRule.model_validate(self.default_form.model_dump() | self.forms[form].model_dump(exclude_unset=True))

    def has_level(self, level: str) -> bool:
        return level in self.levels

    def may_grant(self, level: str, form: str) -> bool:
        return form in self.authority.get(level, ())

    def granting_level(self, form: str) -> str | None:
        """The lowest level that may grant ``form`` under this version."""
        return next((level for level in self.levels if self.may_grant(level, form)), None)

    def level_above(self, level: str) -> str | None:
        """The next level up that exists under this version (a district gone: its commune skips it)."""
        order = ("commune", "district", "province", "national")
        for higher in order[order.index(level) + 1:]:
            if higher in self.levels:
                return higher
        return None


@dataclass(frozen=True)
class Policy:
    versions: tuple[PolicyVersion, ...]  # oldest first

    def in_force(self, on: dt.date) -> PolicyVersion:
        current = None
        for version in self.versions:
            if version.effective_from <= on:
                current = version
        if current is None:
            raise LookupError(f"no award policy in force on {on.isoformat()}")
        return current


def load_policy(path: Path | str | None = None, catalog: Catalog | None = None) -> Policy:
    """Read the versions, filling each from the one before; check forms against the catalog."""
    path = Path(path) if path else DEFAULT_FILE
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CatalogError(f"policy file {path} cannot be read: {exc}") from None
    if not isinstance(raw, list) or not raw:
        raise CatalogError(f"policy file {path} must be a non-empty list of versions")
    versions: list[PolicyVersion] = []
    inherited: dict = {}
    for position, entry in enumerate(raw, start=1):
        merged = inherited | entry
        try:
            version = PolicyVersion.model_validate(merged)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise CatalogError(f"{path}, version {position}: {problems}") from None
        if versions and version.effective_from <= versions[-1].effective_from:
            raise CatalogError(f"{path}, version {position}: effective_from must be later than the version before")
        if catalog is not None:
            named = set(version.forms) | {f for forms in version.authority.values() for f in forms}
            named |= {p.form for rule in version.forms.values() for p in rule.prerequisites}
            unknown = sorted(named - set(catalog.award_forms))
            if unknown:
                raise CatalogError(f"{path}, version {position}: unknown award forms {unknown}")
        versions.append(version)
        inherited = merged
    return Policy(tuple(versions))

"""Award policy: which council may grant which form, votes, consultation, prerequisites.

Pure: the policy is data (``shared/policy/awards.yaml``) read once; every question is
asked for a date and answered by the version in force on that date.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

import shared
from shared.catalog import Catalog, CatalogError

DEFAULT_FILE = Path(shared.__file__).parent / "policy" / "awards.yaml"


def fraction(value: str) -> Fraction:
    """'2/3' -> Fraction(2, 3): exact, so 20 of 30 members is a quorum."""
    result = Fraction(value)
    if not 0 < result <= 1:
        raise ValueError(f"{value!r} is not a fraction in (0, 1]")
    return result


NUMBERS_VI = ("không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín", "mười")


def fraction_vi(value: str) -> str:
    """'2/3' -> 'hai phần ba', '1/2' -> 'một nửa' (as an officer reads it); beyond ten, '11/20'."""
    share = fraction(value)
    if share == 1:
        return "toàn bộ"
    if share == Fraction(1, 2):
        return "một nửa"
    if share.denominator < len(NUMBERS_VI):  # "ba phần tư", not "ba phần bốn"
        return f"{NUMBERS_VI[share.numerator]} phần {'tư' if share.denominator == 4 else NUMBERS_VI[share.denominator]}"
    return f"{share.numerator}/{share.denominator}"


def _checked_fraction(value: str) -> str:
    fraction(value)
    return value


Share = Annotated[str, AfterValidator(_checked_fraction)]


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Prerequisite(_Rule):
    """Earlier awards of ``form`` in a run, counted by the year each award is for.

    ``consecutive_years``: that many awards for consecutive years (a yearly title).
    ``consecutive_awards`` with ``span_years``: that many awards each covering its own span
    (Chiến sĩ thi đua cấp tỉnh covers 3 years, so two in a row are 3 years apart).
    The run ends in the award year or at most ``may_end_before`` years before it.
    """

    form: str
    consecutive_years: int | None = Field(None, ge=1)
    consecutive_awards: int | None = Field(None, ge=1)
    span_years: int = Field(1, ge=1)
    may_end_before: int = Field(1, ge=0)

    @model_validator(mode="after")
    def _one_count(self) -> "Prerequisite":
        if (self.consecutive_years is None) == (self.consecutive_awards is None):
            raise ValueError("give exactly one of consecutive_years, consecutive_awards")
        if self.consecutive_years is not None and self.span_years != 1:
            raise ValueError("span_years goes with consecutive_awards")
        return self

    @property
    def count(self) -> int:
        return self.consecutive_years or self.consecutive_awards or 0

    @property
    def step(self) -> int:
        return self.span_years if self.consecutive_awards else 1


class InitiativeRule(_Rule):
    """Recognised initiatives (sáng kiến) or research results the subject must have."""

    min_scope: str  # a key of Scales.initiative_scopes: co-so < tinh < toan-quoc
    count: int = Field(1, ge=1)
    within_years: int = Field(1, ge=1)  # counted for years (award year - within_years, award year]
    kinds: tuple[Literal["initiative", "research"], ...] = ("initiative", "research")
    subject_kinds: tuple[str, ...] | None = None  # None: every subject kind


class RatedAfter(_Rule):
    """An earlier award of ``form``, then ``consecutive_years`` yearly ratings of ``min_rating``
    or better, every one of them for a year after that award; the run ends in the award year
    or at most ``may_end_before`` years before it."""

    form: str
    min_rating: str  # a key of Scales.ratings
    consecutive_years: int = Field(ge=1)
    may_end_before: int = Field(1, ge=0)


class TitleShare(_Rule):
    titles: tuple[str, ...]  # a member holding one of these titles for the year counts
    share: Share
    strictly_more: bool = False


class RatingShare(_Rule):
    min_rating: str
    share: Share
    strictly_more: bool = False


class TitleCount(_Rule):
    titles: tuple[str, ...]
    at_least: int = Field(ge=1)


class RosterRule(_Rule):
    """What a collective's member roster for the award year must show."""

    title_share: TitleShare | None = None
    rating_share: RatingShare | None = None
    title_count: TitleCount | None = None
    discipline_from: str | None = None  # nobody disciplined at this level (Scales.discipline_levels) or above


class Scales(_Rule):
    """Ordered legal scales, code -> name: ratings highest first, the others lowest first."""

    ratings: dict[str, str] = {}
    discipline_levels: dict[str, str] = {}
    initiative_scopes: dict[str, str] = {}

    def rating_at_least(self, rating: str | None, minimum: str) -> bool:
        order = list(self.ratings)
        return rating in self.ratings and order.index(rating) <= order.index(minimum)

    def discipline_at_least(self, level: str | None, minimum: str) -> bool:
        order = list(self.discipline_levels)
        return level in self.discipline_levels and order.index(level) >= order.index(minimum)

    def scope_at_least(self, scope: str | None, minimum: str) -> bool:
        order = list(self.initiative_scopes)
        return scope in self.initiative_scopes and order.index(scope) >= order.index(minimum)


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
    initiative: InitiativeRule | None = None
    rated_after: RatedAfter | None = None
    roster: RosterRule | None = None
    once_per_year: bool = True  # one award of this form per subject and award year

    def forms_named(self) -> set[str]:
        named = {p.form for p in self.prerequisites}
        if self.rated_after:
            named.add(self.rated_after.form)
        if self.roster:
            for part in (self.roster.title_share, self.roster.title_count):
                if part:
                    named |= set(part.titles)
        return named


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
    scales: Scales = Scales()  # empty: then no rule may name a rating, discipline level or scope

    @field_validator("quorum")
    @classmethod
    def _quorum_is_fraction(cls, value: str) -> str:
        fraction(value)
        return value

    @model_validator(mode="after")
    def _codes_on_the_scales(self) -> "PolicyVersion":
        """Every rating, discipline level and scope a rule names is on its scale."""
        for code, rule in {"default_form": self.default_form, **self.forms}.items():
            checks = []
            if rule.initiative:
                checks.append(("initiative_scopes", rule.initiative.min_scope))
            if rule.rated_after:
                checks.append(("ratings", rule.rated_after.min_rating))
            if rule.roster and rule.roster.rating_share:
                checks.append(("ratings", rule.roster.rating_share.min_rating))
            if rule.roster and rule.roster.discipline_from:
                checks.append(("discipline_levels", rule.roster.discipline_from))
            for scale, value in checks:
                if value not in getattr(self.scales, scale):
                    raise ValueError(f"forms.{code}: {value!r} is not on the scale {scale}")
        return self

    def has_quorum(self, members: int, present: int) -> bool:
        return present >= self.quorum_of(members)

    def quorum_of(self, members: int) -> int:
        """The fewest members present that make a quorum."""
        return math.ceil(members * fraction(self.quorum))

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
        if not isinstance(entry, dict):
            raise CatalogError(f"{path}, version {position}: must be a mapping")
        merged = inherited | entry
        if isinstance(entry.get("forms"), dict) and isinstance(inherited.get("forms"), dict):
            merged["forms"] = _merge_forms(inherited["forms"], entry["forms"])
        try:
            version = PolicyVersion.model_validate(merged)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise CatalogError(f"{path}, version {position}: {problems}") from None
        if versions and version.effective_from <= versions[-1].effective_from:
            raise CatalogError(f"{path}, version {position}: effective_from must be later than the version before")
        if catalog is not None:
            named = set(version.forms) | {f for forms in version.authority.values() for f in forms}
            named |= {f for rule in version.forms.values() for f in rule.forms_named()}
            unknown = sorted(named - set(catalog.award_forms))
            if unknown:
                raise CatalogError(f"{path}, version {position}: unknown award forms {unknown}")
        versions.append(version)
        inherited = merged
    return Policy(tuple(versions))


def _merge_forms(inherited: dict, changes: dict) -> dict:
    """A version names only what changes, per form and per key: ``key: null`` clears a rule,
    ``form: null`` drops the form's own rules (it falls back to default_form)."""
    merged = dict(inherited)
    for form, rule in changes.items():
        if rule is None:
            merged.pop(form, None)
        elif isinstance(rule, dict) and isinstance(merged.get(form), dict):
            merged[form] = merged[form] | rule
        else:
            merged[form] = rule
    return merged

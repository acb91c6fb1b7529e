"""Notification texts: one Jinja2 template per wire event type and locale. Pure: the
template files are read once, when the Renderer is built.

``templates/<locale>/<event type>.j2`` defines two blocks, ``subject`` (folded to one
line) and ``body``. A template sees ``event`` (the WireEvent), ``p`` (its payload),
``exemplar_ref`` (the exemplar's short id: most payloads do not carry its name) and the
filters set in ``_environment``. An undefined name or payload key fails the rendering.

Autoescape is off on purpose: these are text, not HTML. Bodies go to email as text/plain,
to webhooks inside JSON (the encoder escapes) and to the in-app inbox as text. Whatever
puts a subject or body into HTML must escape it there, like any other user-supplied text.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import jinja2

from shared.contracts.awards import REVOCATION_GROUNDS
from shared.catalog import Catalog
from shared.wire import WireEvent

DEFAULT_DIR = Path(__file__).parent / "templates"
DEFAULT_LOCALE = "vi"
LOCALES = ("vi", "en")
LEVELS = {
    "vi": {"commune": "cấp xã", "district": "cấp huyện", "province": "cấp tỉnh", "national": "trung ương"},
    "en": {"commune": "commune", "district": "district", "province": "province", "national": "national"},
}
GROUNDS = {  # revocation grounds (a)-(d) of the law
    "vi": REVOCATION_GROUNDS,
    "en": {"a": "false declaration of the dossier or achievements", "b": "forged dossier",
           "c": "unlawful appraisal, approval or nomination", "d": "the standard was later found unmet"},
}
GREETINGS = {"vi": "Kính gửi: {name}", "en": "Dear {name},"}


class MissingTemplate(LookupError):
    """An event type has no notification template in a locale."""


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    body: str
    locale: str


def date_vi(value: dt.date | str) -> str:
    """dd/mm/yyyy, from a date or an ISO string (dates inside payloads travel as strings)."""
    if isinstance(value, str):
        value = dt.date.fromisoformat(value[:10])
    return value.strftime("%d/%m/%Y")


def short_id(value: object) -> str:
    return str(value)[:8]


def _environment(catalog: Catalog, locale: str, directory: Path) -> jinja2.Environment:
    sources = {path.stem: path.read_text(encoding="utf-8") for path in directory.glob("*.j2")}
    env = jinja2.Environment(loader=jinja2.DictLoader(sources), undefined=jinja2.StrictUndefined,
                             autoescape=False, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(
        date_vi=date_vi,
        short_id=short_id,
        form_name=lambda code: getattr(catalog.award_forms.get(code), "name", code),
        field_name=lambda code: getattr(catalog.fields.get(code), "name", code),
        movement_name=lambda code: getattr(catalog.movements.get(code), "name", code),
        level_name=lambda code: LEVELS[locale].get(code, code),
        ground_name=lambda code: GROUNDS[locale].get(code, code),
    )
    return env


class Renderer:
    def __init__(self, catalog: Catalog, templates_dir: Path | str = DEFAULT_DIR):
        self.templates: dict[str, dict[str, jinja2.Template]] = {}
        for locale in LOCALES:
            env = _environment(catalog, locale, Path(templates_dir) / locale)
            self.templates[locale] = {name: env.get_template(name) for name in env.list_templates()}

    def render(self, event: WireEvent, locale: str = DEFAULT_LOCALE,
               recipient_name: str | None = None, exemplar_name: str | None = None) -> RenderedMessage:
        locale = locale if locale in LOCALES else DEFAULT_LOCALE
        template = self.templates[locale].get(event.type)
        if template is None:
            raise MissingTemplate(f"no notification template for event type {event.type!r} in locale {locale!r} "
                                  f"(expected {locale}/{event.type}.j2)")
        reference = short_id(event.payload.get("exemplar_id", event.aggregate_id))
        code = "mã " + reference if locale == "vi" else reference
        context = template.new_context({
            "event": event,
            "p": event.payload,
            "exemplar_ref": reference,
            # the exemplar's name where the caller knows it (most payloads do not carry it)
            "exemplar_label": f"«{exemplar_name}» ({code})" if exemplar_name else code,
        })
        subject = " ".join("".join(template.blocks["subject"](context)).split())
        body = "".join(template.blocks["body"](context)).strip()
        if recipient_name:
            body = f"{GREETINGS[locale].format(name=recipient_name)}\n\n{body}"
        return RenderedMessage(subject=subject, body=body, locale=locale)

    def render_digest(self, day: str, items: list[RenderedMessage], locale: str = DEFAULT_LOCALE) -> RenderedMessage:
        """The daily digest: one message listing the day's notifications."""
        locale = locale if locale in LOCALES else DEFAULT_LOCALE
        if locale == "vi":
            subject = f"Bản tin thông báo ngày {date_vi(day)} ({len(items)} thông báo)"
        else:
            subject = f"Notifications digest for {day} ({len(items)})"
        body = "\n".join(f"• {item.subject}" for item in items)
        return RenderedMessage(subject=subject, body=body, locale=locale)

"""The pages' languages: gettext catalogs (Babel), the language of a request, dates and numbers.

Catalogs are the ``.po`` files in ``locale/LANG/LC_MESSAGES/prefcenter.po`` next to this
module, compiled in memory when the sidecar starts (no build step, nothing to forget to
compile). A request's language is, first match wins:

1. the ``lang`` query parameter a link carries (``PreferenceCenter.unsubscribe_url(...,
   lang="de")``, ``prefcenter link --lang de``), when it names a shipped language;
2. the browser's ``Accept-Language`` (quality values honoured; ``de-AT`` matches ``de``);
3. the ``LANGUAGE`` setting.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import Translations
from markupsafe import Markup

#: Languages the pages ship in, English (the source text) first.
LANGUAGES = ("en", "de", "fr", "es", "pt", "ja")
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "prefcenter"


def N_(message: str) -> str:  # noqa: N802 - the name gettext's extractors look for
    """Mark ``message`` for the catalogs; a page translates it when it shows it."""
    return message


@dataclass(frozen=True)
class Language:
    """One language's catalog and formatters, as the templates use them."""

    code: str
    translations: Translations

    def gettext(self, message: str, **variables: Any) -> Markup:
        """The translation of ``message`` with ``%(name)s`` filled in, the values escaped
        (what Jinja's ``{% trans %}`` calls with ``newstyle_gettext``)."""
        # The catalogs ship with the package (trusted markup); the values are escaped.
        return Markup(self.translations.gettext(message)) % variables  # noqa: S704

    def ngettext(self, singular: str, plural: str, count: int, **variables: Any) -> Markup:
        """The singular or plural translation for ``count``."""
        variables.setdefault("num", count)
        return Markup(self.translations.ngettext(singular, plural, count)) % variables  # noqa: S704

    def date(self, moment: date | datetime) -> str:
        """A date as people in this language write it (``7 December 2026``, ``7. Dezember
        2026``, ``2026年12月7日``)."""
        day = moment.date() if isinstance(moment, datetime) else moment
        return str(format_date(day, format="long", locale=self.code))

    def number(self, value: float) -> str:
        """A number with this language's separators."""
        return str(format_decimal(value, locale=self.code))

    def context(self) -> dict[str, Callable[..., Any] | str]:
        """What a template needs: ``lang`` for ``<html lang>``, gettext, formatters."""
        return {
            "lang": self.code,
            "gettext": self.gettext,
            "_": self.gettext,
            "ngettext": self.ngettext,
            "format_date": self.date,
            "format_number": self.number,
        }


def load_languages(directory: Path = LOCALE_DIR) -> dict[str, Language]:
    """Every shipped catalog, compiled in memory; English needs none (the source text).

    Raises:
        FileNotFoundError: a shipped language's catalog is missing (a broken install).
    """
    languages = {"en": Language("en", Translations())}
    for code in LANGUAGES[1:]:
        path = directory / code / "LC_MESSAGES" / f"{DOMAIN}.po"
        with path.open("rb") as handle:
            catalog = read_po(handle, locale=code)
        compiled = io.BytesIO()
        write_mo(compiled, catalog)
        compiled.seek(0)
        languages[code] = Language(code, Translations(compiled, domain=DOMAIN))
    return languages


def choose(
    query: str | None, accept_language: str | None, default: str, available: Mapping[str, Any]
) -> str:
    """The language of a request: the link's ``lang``, else Accept-Language, else ``default``."""
    wanted = _primary(query or "")
    if wanted in available:
        return wanted
    for tag in _accepted(accept_language or ""):
        if tag in available:
            return tag
    return default if default in available else "en"


def _primary(tag: str) -> str:
    """``de-AT`` -> ``de``; anything odd -> ""."""
    code = tag.strip().replace("_", "-").split("-", 1)[0].lower()
    return code if code.isascii() and code.isalpha() and len(code) <= 8 else ""


def _accepted(header: str) -> list[str]:
    """Primary language tags of an Accept-Language header, best first (RFC 9110 §12.5.4)."""
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate(header.split(",")[:20]):
        tag, _, params = item.partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        code = _primary(tag)
        if code and quality > 0:
            ranked.append((-quality, position, code))
    return [code for _, _, code in sorted(ranked)]


def display_name(code: str) -> str:
    """A language's name in itself (``Deutsch``, ``日本語``), for a language menu."""
    return str(Locale.parse(code).get_display_name(code))


__all__ = ["LANGUAGES", "N_", "Language", "choose", "display_name", "load_languages"]

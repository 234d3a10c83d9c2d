"""The pages' messages, extracted from the templates and the sidecar's Python (N_, _).

``python -m tools.messages`` prints every msgid; the catalog test compares each shipped
``.po`` file with this list, so a page text without a translation fails the suite.
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir

HTTP = Path(__file__).resolve().parent.parent / "src" / "prefcenter" / "sidecar" / "http"
METHODS = [("**.py", "python"), ("templates/**.html", "jinja2.ext:babel_extract")]
OPTIONS = {"templates/**.html": {"extensions": "jinja2.ext.i18n", "newstyle_gettext": "true"}}


def messages(directory: Path = HTTP) -> list[str]:
    """Every message id the pages can show, in the order first found."""
    found: dict[str, None] = {}
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(directory), METHODS, options_map=OPTIONS, keywords={"_": None, "gettext": None,
        "ngettext": (1, 2), "N_": None}
    ):  # fmt: skip
        for text in message if isinstance(message, tuple) else (message,):
            if text:
                found[text] = None
    return list(found)


if __name__ == "__main__":
    for text in messages():
        print(repr(text))

"""No untranslated strings: every message the pages can show has its Chinese translation.

Messages are extracted from the source the way `pybabel extract -F babel.cfg` does (Python
and Jinja templates under ticketing/), then looked up in the merged catalogs Flask-Babel
loads (the shared one plus each page area's).
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo

from tests.conftest import ROOT
from ticketing.web import translation_directories

METHODS = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
OPTIONS = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n", "trimmed": "false"}}


def _msgids() -> dict[str, str]:
    found: dict[str, str] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(ROOT / "ticketing"), METHODS, OPTIONS, keywords={"_": None, "gettext": None, "lazy_gettext": None,
                                                              "ngettext": (1, 2), "_l": None}
    ):
        msgid = message[0] if isinstance(message, tuple) else message
        if msgid:
            found.setdefault(msgid, f"ticketing/{filename}:{lineno}")
    return found


def _translated() -> set[str]:
    done: set[str] = set()
    for folder in translation_directories().split(";"):
        mo = Path(folder) / "zh" / "LC_MESSAGES" / "messages.mo"
        if mo.exists():
            with mo.open("rb") as f:
                catalog = read_mo(f)
            done.update(m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id and m.string)
    return done


def test_every_message_has_a_chinese_translation():
    missing = {msgid: where for msgid, where in _msgids().items() if msgid not in _translated()}
    assert not missing, "untranslated (add to the area's catalog and compile):\n" + "\n".join(
        f"  {where}: {msgid!r}" for msgid, where in sorted(missing.items(), key=lambda kv: kv[1])
    )


def test_each_catalog_is_compiled_from_its_source():
    from babel.messages.pofile import read_po

    for folder in translation_directories().split(";"):
        po = Path(folder) / "zh" / "LC_MESSAGES" / "messages.po"
        with po.open("rb") as f:
            source = {m.id: m.string for m in read_po(f) if m.id and m.string and not m.fuzzy}
        with po.with_suffix(".mo").open("rb") as f:
            compiled = {m.id: m.string for m in read_mo(f) if m.id}
        assert source == compiled, f"run: .venv/bin/pybabel compile -d {folder}"


def test_a_message_is_translated_in_one_catalog_only():
    """Flask-Babel merges the catalogs and the last one wins: a message every area shares lives in
    the shared catalog (ticketing/web/translations), so it reads the same on every page."""
    from babel.messages.pofile import read_po

    owners: dict[str, list[str]] = {}
    for folder in translation_directories().split(";"):
        with (Path(folder) / "zh" / "LC_MESSAGES" / "messages.po").open("rb") as f:
            for m in read_po(f):
                if m.id and m.string:
                    owners.setdefault(m.id if isinstance(m.id, str) else m.id[0], []).append(folder)
    shared = {msgid: folders for msgid, folders in owners.items() if len(folders) > 1}
    assert not shared, f"move to the shared catalog: {sorted(shared)[:20]}"

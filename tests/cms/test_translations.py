"""The German catalogue: every portal string translated, the shipped .mo the
compiled .po, placeholders kept."""

from __future__ import annotations

import ast
import gettext
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PO = ROOT / "locale" / "de" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")
_ENTRY = re.compile(r'^msgid ((?:".*"\n)+)msgstr ((?:".*"\n)+)', re.M)
_TRANSLATE = re.compile(r"""{% translate (["'])(.*?)\1 %}""")
_BLOCK = re.compile(r"{% blocktranslate[^%]*%}(.*?){% endblocktranslate %}", re.S)
_PLACEHOLDER = re.compile(r"%\(\w+\)s|%%")


def _catalogue() -> dict[str, str]:
    def text(block: str) -> str:
        return "".join(ast.literal_eval(line) for line in block.strip().splitlines())

    return {
        text(msgid): text(msgstr)
        for msgid, msgstr in _ENTRY.findall(PO.read_text(encoding="utf-8"))
        if text(msgid)
    }


def _template_strings() -> set[str]:
    strings: set[str] = set()
    for path in (ROOT / "templates").rglob("*.html"):
        source = path.read_text(encoding="utf-8")
        strings.update(match[1] for match in _TRANSLATE.findall(source))
        for body in _BLOCK.findall(source):
            strings.add(
                re.sub(r"{{ (\w+) }}", r"%(\1)s", body.replace("%", "%%")).replace(
                    "%%(", "%("
                )
            )
    return strings


def test_every_catalogue_entry_is_translated_with_its_placeholders():
    catalogue = _catalogue()

    assert len(catalogue) > 700
    untranslated = [msgid for msgid, msgstr in catalogue.items() if not msgstr]
    assert untranslated == []
    mismatched = [
        msgid
        for msgid, msgstr in catalogue.items()
        if sorted(_PLACEHOLDER.findall(msgid)) != sorted(_PLACEHOLDER.findall(msgstr))
    ]
    assert mismatched == []


def test_the_shipped_mo_is_the_compiled_po():
    with MO.open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)

    differing = [
        msgid
        for msgid, msgstr in _catalogue().items()
        if compiled.gettext(msgid) != msgstr
    ]
    assert differing == []


def test_every_string_marked_in_a_template_is_in_the_catalogue():
    catalogue = _catalogue()

    missing = sorted(_template_strings() - set(catalogue))

    assert missing == []

"""The words of a draft: its text, from the libraries that read each format well.

Markdown and plain text are decoded as UTF-8. A Word document's text comes from
``python-docx`` (paragraphs and table cells in document order), an OpenDocument text's
from ``odfdo``, a PDF's from ``pypdf`` (best effort: a scanned PDF has no text, and says
so). Anything else has no text napflow can compare.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from napflow.documents.sniff import DOCX, MARKDOWN, ODT, PDF, TEXT
from napflow.i18n import _, format_number

#: the media types whose words can be compared
WITH_TEXT = frozenset({TEXT, MARKDOWN, DOCX, ODT, PDF})


class NoText(Exception):
    """The file holds no text napflow can read (its type, or a PDF of scanned pages)."""


def _docx(path: Path) -> str:
    import docx  # loaded when a Word draft is read (it loads lxml)
    from docx.table import Table

    lines: list[str] = []
    for block in docx.Document(str(path)).iter_inner_content():
        if isinstance(block, Table):
            for row in block.rows:
                lines.append("\t".join(cell.text for cell in row.cells))
        else:
            lines.append(block.text)
    return "\n".join(lines)


def _odt(path: Path) -> str:
    from odfdo import Document

    return str(Document(str(path)).get_formatted_text())


def _pdf(path: Path) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() or "" for page in PdfReader(str(path)).pages)


#: what a Word or OpenDocument file may unpack to before its text is read (its parts are
#: read whole by the libraries: a small archive that unpacks to gigabytes is refused)
MAX_UNPACKED = 256 << 20


def _check_unpacked(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(member.file_size for member in archive.infolist())
    except Exception:
        return
    if unpacked > MAX_UNPACKED:
        raise NoText(
            _("it would unpack to %(size)s MB, more than napflow reads")
            % {"size": format_number(unpacked >> 20)}
        )


def extract_text(path: Path, media_type: str) -> str:
    """Return the text of the file at ``path`` (of ``media_type``); raise NoText if none."""
    if media_type in (TEXT, MARKDOWN):
        return path.read_text(encoding="utf-8", errors="replace")
    readers = {DOCX: _docx, ODT: _odt, PDF: _pdf}
    reader = readers.get(media_type)
    if reader is None:
        raise NoText(_("a file of type %(type)s has no text to compare") % {"type": media_type})
    if media_type in (DOCX, ODT):
        _check_unpacked(path)
    try:
        text = reader(path)
    except Exception as exc:  # a damaged file: the library's own words, in one line
        said = " ".join(str(exc).split())[:200]  # the library's own words, in one line
        raise NoText(_("its text cannot be read (%(error)s)") % {"error": said}) from None
    if not text.strip():
        raise NoText(_("it holds no text (a scanned document, perhaps)"))
    return text

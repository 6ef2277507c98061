"""Telling what a file is from its bytes, and refusing a name that says otherwise.

The leading bytes are matched by ``filetype`` (a maintained, dependency-free table of file
signatures). A Word or OpenDocument file is a ZIP archive whose type is decided by what is
inside it, which a signature of the first bytes does not always see (an archive may begin
with other members); so a ZIP is opened with the standard library and told by its members:
an ``mimetype`` member (OpenDocument says its own type there) or ``word/document.xml``
(Office Open XML). Text is what decodes as UTF-8 without NUL bytes.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import PurePosixPath
from typing import BinaryIO

import filetype

from napflow.errors import InputError

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
ODT = "application/vnd.oasis.opendocument.text"
MARKDOWN = "text/markdown"
TEXT = "text/plain"
ZIP = "application/zip"
BINARY = "application/octet-stream"

#: what people call each type napflow knows, and the name endings that claim it
KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    PDF: ("a PDF document", (".pdf",)),
    DOCX: ("a Word document", (".docx",)),
    ODT: ("an OpenDocument text", (".odt",)),
    MARKDOWN: ("Markdown text", (".md", ".markdown")),
    TEXT: ("plain text", (".txt",)),
}
#: how many leading bytes the signature check reads
HEAD_BYTES = 8192
_TEXTS = frozenset({TEXT, MARKDOWN})


def describe(media_type: str) -> str:
    """Say what a media type is in words ("a Word document")."""
    known = KINDS.get(media_type)
    return known[0] if known is not None else f"a file of type {media_type}"


def _claimed(file_name: str) -> str | None:
    """Return the media type a file name's ending claims, if it names one napflow knows."""
    suffix = PurePosixPath(file_name.lower()).suffix
    for media_type, (_what, endings) in KINDS.items():
        if suffix in endings:
            return media_type
    return None


#: an OpenDocument type as its ``mimetype`` member may declare it (nothing else is believed)
_ODF = re.compile(r"application/vnd\.oasis\.opendocument\.[a-z-]{1,40}")
#: more members than any document has: not looked into further
_MAX_MEMBERS = 10_000


def _zip_kind(spool: BinaryIO) -> str:
    """Tell a Word or OpenDocument file from any other ZIP archive by its members.

    Only the directory and at most 100 bytes of one member are read (a member that would
    unpack to gigabytes is never unpacked); anything unexpected makes it bytes, no type.
    """
    spool.seek(0)
    try:
        with zipfile.ZipFile(spool) as archive:
            members = archive.infolist()
            if len(members) > _MAX_MEMBERS:
                return BINARY
            names = {member.filename for member in members}
            if "mimetype" in names:
                with archive.open("mimetype") as member:
                    declared = member.read(100).decode("ascii", "replace").strip()
                return declared if _ODF.fullmatch(declared) else ZIP
            if "word/document.xml" in names and "[Content_Types].xml" in names:
                return DOCX
    except Exception:
        return BINARY
    return ZIP


def _is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # a character cut at the end of the sample is still text
        return exc.start >= len(head) - 3 and exc.reason == "unexpected end of data"
    return True


def sniff(spool: BinaryIO, file_name: str) -> str:
    """Return the media type of the file in ``spool`` (a seekable binary file), from its bytes.

    A name ending (.pdf, .docx, .odt, .md, .txt) that claims another type than the bytes
    are is refused (InputError), naming both. Text is Markdown when the name says so.
    """
    spool.seek(0)
    head = spool.read(HEAD_BYTES)
    claimed = _claimed(file_name)
    # text first when the name says text: a few letters can look like a short signature
    # ("BM" is a bitmap's, "ID3" an MP3's)
    guessed = None if claimed in _TEXTS and _is_text(head) else filetype.guess_mime(head)
    if guessed in (ZIP, DOCX, ODT) or (guessed or "").startswith("application/vnd."):
        media_type = _zip_kind(spool) if head.startswith(b"PK") else guessed or BINARY
    elif guessed is not None:
        media_type = guessed
    elif _is_text(head):
        media_type = TEXT
    else:
        media_type = BINARY
    if media_type == TEXT and claimed == MARKDOWN:
        media_type = MARKDOWN
    if claimed is not None and claimed != media_type and not {claimed, media_type} <= _TEXTS:
        raise InputError(
            f"{file_name} is {describe(media_type)}, not {describe(claimed)} as its name says; "
            "give it a name that matches what it is."
        )
    return media_type

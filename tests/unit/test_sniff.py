"""A draft's type from its bytes (napflow.documents.sniff), hostile archives included."""

from __future__ import annotations

import io
import resource
import zipfile

import pytest

from napflow.documents.sniff import BINARY, MARKDOWN, ODT, ZIP, sniff
from napflow.errors import InputError


def spooled(data: bytes) -> io.BytesIO:
    """The file as the service hands it over: seekable bytes."""
    return io.BytesIO(data)


def archive(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=method) as made:
        for name, data in members.items():
            made.writestr(name, data)
    return out.getvalue()


def test_an_opendocument_says_its_type_and_nothing_else_is_believed() -> None:
    odt = archive({"mimetype": ODT.encode(), "content.xml": b"<x/>"})
    assert sniff(spooled(odt), "plan.odt") == ODT
    claims_pdf = archive({"mimetype": b"application/pdf", "content.xml": b"<x/>"})
    assert sniff(spooled(claims_pdf), "plan.zip") == ZIP  # a ZIP saying it is a PDF is a ZIP


def test_a_member_that_unpacks_to_hundreds_of_megabytes_is_never_unpacked() -> None:
    bomb = archive({"mimetype": b"\0" * (1 << 28)})  # under a MB packed, 256 MB unpacked
    assert len(bomb) < 8 << 20
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert sniff(spooled(bomb), "bomb.zip") == ZIP
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 64 * 1024  # far from the 256 MB it would unpack to


def test_a_damaged_or_odd_archive_is_bytes_not_an_error() -> None:
    odd = bytearray(archive({"mimetype": ODT.encode()}, method=zipfile.ZIP_STORED))
    central = odd.index(b"PK\x01\x02")
    odd[8:10] = odd[central + 10 : central + 12] = (99).to_bytes(2, "little")  # unknown method
    assert sniff(spooled(bytes(odd)), "odd.zip") == BINARY
    cut = archive({"mimetype": ODT.encode() * 50, "a.xml": b"x" * 5000})[:200]
    assert sniff(spooled(cut), "cut.zip") in (BINARY, ZIP)


def test_text_named_as_text_is_text_whatever_its_first_letters() -> None:
    assert sniff(spooled(b"BM: the Border Management annex\n"), "annex.md") == MARKDOWN
    with pytest.raises(InputError, match="is a file of type image/bmp, not plain text"):
        sniff(spooled(b"BM" + b"\0" * 60), "annex.txt")

"""Security: request bodies over their route's limit are refused before the app reads them.

An auditor sent a 300 MB body to the JSON API without a token: the server read it whole
before it answered 401, and grew from 90 MB to 942 MB. Here `napflow serve` runs as its own
process on a loopback port, and the client is a raw socket writing the body from a
generator (never held in memory by the test): the server answers 413 when the declared
length is over the limit, or as soon as a chunked body passes it, and its memory (VmHWM in
/proc, its peak, reset before the request) stays flat.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import serving

from napflow import services
from napflow.runtime.bootstrap import build_runtime
from napflow.runtime.settings import Settings

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path("/proc/self/status").is_file(), reason="reads the server's memory in /proc"
    ),
]

MiB = 1 << 20
#: the body the auditor sent
HUGE = 300 * MiB
#: how much the server's peak memory may grow while refusing it
FLAT = 50 * MiB
#: [web] body_max_kb and [drafts] max_mb as the server below runs with them (the defaults)
BODY_MAX = 1024 << 10
DRAFT_MAX = 50 * MiB
#: the room napflow.web.api_drafts leaves for the form's own lines besides the file
FORM_OVERHEAD = 64 << 10
BLOCK = b"x" * (64 << 10)


@dataclass
class Answer:
    """What the server answered, and how much of the body the client got to send."""

    status: int
    headers: dict[str, str]
    body: bytes
    sent: int

    def problem(self) -> dict[str, object]:
        assert self.headers["content-type"] == "application/problem+json", self.headers
        found: dict[str, object] = json.loads(self.body)
        return found


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int]]:
    """`napflow serve` on an SQLite database (the engine plays no part here): port and pid."""
    home = tmp_path_factory.mktemp("body-limits")
    url = f"sqlite:///{home / 'napflow.db'}"
    rt = build_runtime(Settings(database_url=url))
    services.init_database(rt)
    rt.db.dispose()
    env = {**os.environ, "NAPFLOW_DATABASE_URL": url}
    for var in list(env):
        if var.startswith("NAPFLOW_") and var != "NAPFLOW_DATABASE_URL":
            env.pop(var)
    with serving(cwd=home, env=env) as (base, process, log):
        yield int(base.rsplit(":", 1)[1]), process.pid
        said = log.read_text()  # a body cut off is no server error
        assert "Traceback" not in said and "Exception in ASGI application" not in said, said


def blocks(total: int) -> Iterator[bytes]:
    """``total`` bytes in 64 KiB pieces, one block reused: nothing of it is kept."""
    while total > 0:
        piece = BLOCK[: min(total, len(BLOCK))]
        total -= len(piece)
        yield piece


def json_body(total: int) -> Iterator[bytes]:
    """A JSON object of exactly ``total`` bytes, one long comment, in pieces."""
    head, tail = b'{"comment": "', b'"}'
    yield head
    yield from blocks(total - len(head) - len(tail))
    yield tail


def chunked(pieces: Iterator[bytes]) -> Iterator[bytes]:
    """The pieces in HTTP/1.1 chunked framing, then the last chunk."""
    for piece in pieces:
        yield b"%x\r\n" % len(piece) + piece + b"\r\n"
    yield b"0\r\n\r\n"


def send(
    port: int,
    method: str,
    path: str,
    body: Iterator[bytes],
    length: int | None,
    content_type: str = "application/json",
) -> Answer:
    """Send a request whose body comes from ``body``, as a careful client does.

    ``length`` is the declared Content-Length (None: chunked). Before each piece the client
    looks whether the server has answered already; if it has (or closed the connection),
    it stops sending and reads the answer.
    """
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Type: {content_type}"]
    lines.append(
        f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    )
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=120) as conn:
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        for piece in body if length is not None else chunked(body):
            if select.select([conn], [], [], 0)[0]:
                break  # the server has answered (or hung up): no more of the body
            try:
                conn.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(piece)
        return read_answer(conn, sent)


def read_answer(conn: socket.socket, sent: int) -> Answer:
    """Read one response (status line, headers, a body of its Content-Length)."""
    data = b""
    while b"\r\n\r\n" not in data:
        more = conn.recv(65536)
        assert more, f"the server closed the connection without answering: {data!r}"
        data += more
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        more = conn.recv(65536)
        assert more, "the server closed the connection mid-answer"
        body += more
    return Answer(int(status_line.split(" ", 2)[1]), headers, body[:length], sent)


def memory(pid: int, field: str) -> int:
    """A process's VmRSS (now) or VmHWM (its peak), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def reset_peak(pid: int) -> None:
    """Make the process's VmHWM its VmRSS of now (Linux: clear_refs 5), if allowed."""
    with contextlib.suppress(OSError):  # else VmHWM is the peak since the process started
        Path(f"/proc/{pid}/clear_refs").write_text("5")


def growth_while(pid: int, answer: Iterator[Answer]) -> tuple[Answer, int]:
    """Run the request ``answer`` makes; return it and how far the peak rose above now."""
    reset_peak(pid)
    before = max(memory(pid, "VmRSS"), 0)
    found = next(answer)
    return found, memory(pid, "VmHWM") - before


def one(port: int, *args: object, **kwargs: object) -> Iterator[Answer]:
    yield send(port, *args, **kwargs)  # type: ignore[arg-type]


ADVANCE = "/api/v1/plans/X/advance"


def test_a_300_mb_body_declared_is_refused_unread_and_memory_stays_flat(
    server: tuple[int, int],
) -> None:
    port, pid = server
    send(port, "POST", ADVANCE, blocks(10), 10)  # the server has handled a request
    answer, grew = growth_while(pid, one(port, "POST", ADVANCE, blocks(HUGE), HUGE))
    assert answer.status == 413, answer
    problem = answer.problem()
    assert problem["status"] == 413 and problem["title"] == "Content too large"
    assert "1024 KB" in str(problem["detail"]) and "[web] body_max_kb" in str(problem["detail"])
    assert answer.headers["connection"] == "close"
    assert answer.sent < HUGE // 2, "the client was let send the body"
    assert grew < FLAT, f"the server grew by {grew / MiB:.0f} MiB"


def test_a_300_mb_chunked_body_is_cut_off_at_the_limit_and_memory_stays_flat(
    server: tuple[int, int],
) -> None:
    port, pid = server
    send(port, "POST", ADVANCE, blocks(10), 10)
    answer, grew = growth_while(pid, one(port, "POST", ADVANCE, blocks(HUGE), None))
    assert answer.status == 413, answer
    assert "[web] body_max_kb" in str(answer.problem()["detail"])
    assert answer.sent < HUGE // 2, "the server read on past the limit"
    assert grew < FLAT, f"the server grew by {grew / MiB:.0f} MiB"


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_a_body_up_to_the_limit_reaches_the_app_one_byte_more_does_not(
    server: tuple[int, int], declared: bool
) -> None:
    port, _pid = server
    at_limit = send(port, "POST", ADVANCE, json_body(BODY_MAX), BODY_MAX if declared else None)
    assert at_limit.status == 401, at_limit  # the app's own answer: no token
    over = BODY_MAX + 1
    refused = send(port, "POST", ADVANCE, blocks(over), over if declared else None)
    assert refused.status == 413, refused


def test_web_pages_answer_a_short_text_413(server: tuple[int, int]) -> None:
    port, _pid = server
    over = BODY_MAX + 1
    form = "application/x-www-form-urlencoded"
    for length in (over, None):
        answer = send(port, "POST", "/login", blocks(over), length, form)
        assert answer.status == 413, answer
        assert answer.headers["content-type"].startswith("text/plain"), answer.headers
        text = answer.body.decode()
        assert "[web] body_max_kb" in text and len(text.splitlines()) == 1, text
        assert answer.headers["x-content-type-options"] == "nosniff"


def test_draft_uploads_have_their_own_limit(server: tuple[int, int]) -> None:
    port, _pid = server
    drafts = "/api/v1/plans/X/drafts"
    # over body_max_kb but under the draft limit: the app answers (no token)
    passed = send(port, "POST", drafts, blocks(2 * MiB), 2 * MiB)
    assert passed.status == 401, passed
    # over the draft limit and its form's room: refused before it is read
    over = DRAFT_MAX + FORM_OVERHEAD + 1
    refused = send(port, "POST", drafts, blocks(over), over)
    assert refused.status == 413, refused
    detail = str(refused.problem()["detail"])
    assert "larger than the 50 MB a draft may have" in detail and "[drafts] max_mb" in detail
    assert refused.sent < over // 2
    # the same length to any other route is over that route's limit
    assert send(port, "POST", f"{drafts}/1", blocks(2 * MiB), 2 * MiB).status == 413
    assert send(port, "PUT", drafts, blocks(2 * MiB), 2 * MiB).status == 413


def test_an_answer_given_before_a_chunked_body_ends_stops_the_reading(
    server: tuple[int, int],
) -> None:
    """The login form is not JSON: the app answers without reading the body (400), and the
    connection closes rather than the server reading on, and dropping, 300 MB."""
    port, pid = server
    answer, grew = growth_while(pid, one(port, "POST", "/login", blocks(HUGE), None))
    assert answer.status == 400, answer
    assert answer.headers["connection"] == "close"
    assert answer.sent < HUGE // 2, "the server read on after its answer"
    assert grew < FLAT

"""An upload cut off mid-body: the client goes away, and nothing of it is kept.

`napflow serve` runs as its own process on a loopback port (both engines); the client is a
raw socket, so the request is exactly what is written: a declared length of 3 MiB of which
only part is sent before the socket is closed.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers import CAST, serving
from sqlalchemy import func, select

from napflow import services
from napflow.errors import NotFoundError
from napflow.runtime import Runtime
from napflow.services import accounts, audit
from napflow.storage.schema import draft_chunks, draft_contents, drafts, history, plans

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path("/proc/self/fd").is_dir(), reason="watches the server's open files in /proc"
    ),
]

COORD = CAST["coordinator"][0]
BOUNDARY = "napflow-test-boundary"
V1 = b"# National Action Plan\n\nExport controls: the list of 2015.\n"


def form_part(file_name: str) -> bytes:
    """The opening of the form's file part, up to its first byte of content."""
    return (
        f"--{BOUNDARY}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{file_name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()


def request_head(key: str, token: str, length: int) -> bytes:
    """The head of a draft upload declaring a body of ``length`` bytes."""
    return (
        f"POST /api/v1/plans/{key}/drafts HTTP/1.1\r\n"
        "Host: 127.0.0.1\r\n"
        f"Authorization: Bearer {token}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"Content-Length: {length}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()


def upload_whole(port: int, key: str, token: str, data: bytes, name: str) -> tuple[int, Any]:
    """Upload ``data`` whole, as any client would; return the status and the JSON answer."""
    body = form_part(name) + data + f"\r\n--{BOUNDARY}--\r\n".encode()
    chunks = []
    with socket.create_connection(("127.0.0.1", port), timeout=60) as conn:
        conn.sendall(request_head(key, token, len(body)) + body)
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    head, _, content = b"".join(chunks).partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(content)


def spool_files(pid: int, spool: Path) -> list[str]:
    """The files in ``spool`` that process ``pid`` holds open (deleted ones included)."""
    held = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:  # closed meanwhile
            continue
        if target.startswith(f"{spool}/"):
            held.append(target)
    return held


def wait_until(condition: Callable[[], bool], what: str, log: Path) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after 30 s."""
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, f"{what}; the server said: {log.read_text()}"
        time.sleep(0.02)


def stored(rt: Runtime, key: str) -> tuple[int, int, int, int, int]:
    """Drafts, stored contents, chunks, draft_added records, and the plan's draft version."""
    with rt.db.read() as conn:
        counts = [
            conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (drafts, draft_contents, draft_chunks)
        ]
        added = conn.execute(
            select(func.count()).where(history.c.kind == "draft_added")
        ).scalar_one()
        current = conn.execute(select(plans.c.draft_version).where(plans.c.key == key)).scalar_one()
    return (*counts, added, current)  # type: ignore[return-value]


def test_a_client_gone_mid_upload_leaves_no_draft_and_no_bytes(
    rt: Runtime, nap_plan: str, db_url: str, tmp_path: Path
) -> None:
    token = accounts.create_api_token(rt, COORD)
    spool = tmp_path / "spool"  # where the server spools uploads (TMPDIR)
    spool.mkdir()
    env = {**os.environ, "NAPFLOW_DATABASE_URL": db_url, "TMPDIR": str(spool)}
    for var in ("NAPFLOW_CONFIG", "NAPFLOW_WORKFLOW_DIRS"):
        env.pop(var, None)
    with serving(cwd=tmp_path, env=env) as (url, server, log):
        port = int(url.rsplit(":", 1)[1])
        sent = form_part("nap.md") + b"# Half a draft\n" * 100_000  # 1.5 MiB of 3 MiB
        with socket.create_connection(("127.0.0.1", port), timeout=60) as client:
            client.sendall(request_head(nap_plan, token, 3 << 20) + sent)
            # the upload is under way: past 1 MiB the server spools it to a file
            wait_until(
                lambda: bool(spool_files(server.pid, spool)),
                "the server never spooled the upload",
                log,
            )
        # the client is gone: the server drops the upload and its spooled bytes
        wait_until(
            lambda: not spool_files(server.pid, spool),
            "the server still holds the spooled upload",
            log,
        )
        assert server.poll() is None, log.read_text()
        said = log.read_text()  # an upload cut short is no server error
        assert "Traceback" not in said and "Exception in ASGI application" not in said, said
        assert stored(rt, nap_plan) == (0, 0, 0, 0, 0)
        assert services.drafts.list_drafts(rt, nap_plan) == []
        with pytest.raises(NotFoundError, match="has no draft yet"):
            services.drafts.find_draft(rt, nap_plan)
        assert list(spool.iterdir()) == []

        status, added = upload_whole(port, nap_plan, token, V1, "nap.md")  # the next one works
        assert status == 201, added
        assert (added["version"], added["sha256"]) == (1, hashlib.sha256(V1).hexdigest())
    assert stored(rt, nap_plan) == (1, 1, 1, 1, 1)
    assert [d.version for d in services.drafts.list_drafts(rt, nap_plan)] == [1]
    assert audit.verify_ledger(rt).ok

"""A throwaway PostgreSQL server for the tests: Debian's postgresql, on loopback, in a
temporary data directory, started by the tests themselves (and installed when missing).

Run as root, the server runs as the ``postgres`` user the package creates (PostgreSQL
refuses to run as root). Durability settings are off: these servers hold test data only.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg
from helpers import apt_install, free_port

USER = "napflow"


def _bin_dir() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


def ensure_postgresql() -> Path:
    """Return the directory of initdb and pg_ctl, installing Debian's package if missing."""
    if _bin_dir() is None:
        apt_install("postgresql", lambda: _bin_dir() is not None)
    found = _bin_dir()
    if found is None:
        raise RuntimeError("PostgreSQL is missing: install Debian's postgresql package.")
    return found


#: how many ports a server tries before its start counts as failed
_START_TRIES = 5


class PgServer:
    """One PostgreSQL server in a temporary directory; ``start()``, ``url()``, ``stop()``."""

    def __init__(self) -> None:
        self.bin = ensure_postgresql()
        self.home = Path(tempfile.mkdtemp(prefix="napflow-pg-"))
        self.data = self.home / "data"
        self.port = free_port()
        self._as_postgres = os.geteuid() == 0

    def _run(self, *args: str) -> None:
        command = [str(a) for a in args]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> PgServer:
        if self._as_postgres:
            shutil.chown(self.home, "postgres", "postgres")
        self._run(
            self.bin / "initdb",
            "-D",
            self.data,
            "-U",
            USER,
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-locale",
        )
        log = self.home / "server.log"
        # free_port() cannot reserve its port: another test worker may take it before the
        # server binds it. Then the start fails, and the next try takes another port.
        for attempt in range(1, _START_TRIES + 1):
            options = (
                f"-p {self.port} -k {self.home} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
            )
            try:
                self._run(
                    self.bin / "pg_ctl",
                    "-D",
                    self.data,
                    "-l",
                    log,
                    "-o",
                    options,
                    "-w",
                    "-s",
                    "start",
                )
                return self
            except subprocess.CalledProcessError:
                text = log.read_text(errors="replace") if log.exists() else ""
                if attempt == _START_TRIES or "could not bind" not in text:
                    raise
                self.port = free_port()
        return self

    def url(self, database: str = "postgres") -> str:
        """Return the SQLAlchemy URL of ``database`` on this server."""
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/{database}"

    def execute(self, sql: str) -> None:
        """Run one statement outside a transaction (CREATE/DROP DATABASE)."""
        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user={USER} dbname=postgres", autocommit=True
        ) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def stop(self) -> None:
        try:
            self._run(self.bin / "pg_ctl", "-D", self.data, "-m", "immediate", "-s", "stop")
        finally:
            shutil.rmtree(self.home, ignore_errors=True)

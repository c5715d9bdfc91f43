"""A throwaway PostgreSQL server for the tests: Debian's binaries, initdb in a temp dir, a free port.

initdb refuses to run as root, and CI runs as root: then the server runs as the `postgres` system user
(the Debian package creates it) on a directory it owns. The socket lives in the data directory.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg


def pg_bin() -> Path:
    """The newest /usr/lib/postgresql/<ver>/bin (Debian keeps the server off PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: `make install` (apt-get install postgresql) puts it in place")
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """One server: `start()`, `url(dbname)`, `new_database()`, `stop()`."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="crm-dedup-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.user = "postgres" if os.geteuid() == 0 else None
        self._count = 0

    def _run(self, *args: str) -> None:
        cmd = [str(pg_bin() / args[0]), *args[1:]]
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, text=True)

    def start(self) -> PostgresServer:
        if self.user:
            shutil.chown(self.root, self.user)
        self.root.chmod(0o700)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--locale=C.UTF-8",
                  "--encoding=UTF8", "-N")
        opts = (f"-c port={self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.data} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300")
        self._run("pg_ctl", "-D", str(self.data), "-o", opts, "-l", str(self.data / "log"), "-w", "start")
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute("CREATE DATABASE template_crm_dedup")
        self._template_ready = False
        return self

    def url(self, dbname: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def new_database(self) -> str:
        """A fresh database, already migrated (copied from a migrated template): its URL."""
        if not self._template_ready:
            from resolver.store import PostgresStore

            PostgresStore(self.url("template_crm_dedup")).close()
            self._template_ready = True
        self._count += 1
        name = f"t{self._count}_{os.getpid()}"
        for attempt in range(50):  # the template must have no open connection; a closing pool may linger
            try:
                with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
                    conn.execute(f"CREATE DATABASE {name} TEMPLATE template_crm_dedup")
                break
            except psycopg.errors.ObjectInUse:
                time.sleep(0.1 * (attempt + 1))
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

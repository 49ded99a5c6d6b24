"""A throwaway PostgreSQL server for the tests: ``initdb`` into a temp folder, ``pg_ctl start``
on a free loopback port with its unix socket in that folder, trust authentication.

``initdb`` refuses to run as root: as root the server runs as the ``postgres`` user (Debian's
package creates it), else as ``nobody``, through ``runuser``.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def find_bin(name: str) -> str | None:
    """A server binary: on PATH, else the newest under Debian's /usr/lib/postgresql/<ver>/bin."""
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                      key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    return versions[-1] if versions else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """``with PostgresServer() as pg: pg.url`` (a ``postgresql+psycopg://`` URL to a fresh db)."""

    def __init__(self) -> None:
        self.initdb, self.pg_ctl = find_bin("initdb"), find_bin("pg_ctl")
        if not (self.initdb and self.pg_ctl):
            raise FileNotFoundError("no PostgreSQL server binaries (initdb, pg_ctl): install Debian's "
                                    "'postgresql' package (.ci/run does)")
        self.user = None
        if os.geteuid() == 0:
            self.user = next((u for u in ("postgres", "nobody") if _user_exists(u)), None)
            if self.user is None or not shutil.which("runuser"):
                raise FileNotFoundError("running as root without a 'postgres' or 'nobody' user and "
                                        "runuser: initdb refuses to run as root")
        self.folder = Path(tempfile.mkdtemp(prefix="seqcast-pg-"))
        self.data = self.folder / "data"
        self.port = _free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        cmd = list(args) if self.user is None else ["runuser", "-u", self.user, "--", *args]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if done.returncode:
            log = self.folder / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(args[:2])} failed: {done.stderr or done.stdout}\n{tail}")

    def start(self) -> PostgresServer:
        if self.user:
            pw = pwd.getpwnam(self.user)
            os.chown(self.folder, pw.pw_uid, pw.pw_gid)
        self._run(self.initdb, "-D", str(self.data), "--auth=trust", "--username=postgres",
                  "--encoding=UTF8", "--locale=C", "--no-instructions", "--no-sync")
        # durability is not under test: fsync off keeps the suite fast
        opts = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(self.pg_ctl, "-D", str(self.data), "-l", str(self.folder / "server.log"),
                  "-w", "-t", "60", "-o", opts, "start")
        return self

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run(self.pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def create_database(self, name: str) -> str:
        """A fresh database on this server; its URL."""
        import sqlalchemy as sa

        eng = sa.create_engine(self.url, isolation_level="AUTOCOMMIT")
        with eng.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        eng.dispose()
        return self.url.rsplit("/", 1)[0] + f"/{name}"

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False

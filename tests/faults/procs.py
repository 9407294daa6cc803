"""Real service processes for the fault suite: ``diamond-pricing worker`` and ``serve``.

Each process gets ``PGAPPNAME=<its name>``, so its database sessions are found in
``pg_stat_activity`` by ``application_name`` (libpq reads that variable for every connection
that does not set a name of its own). Output goes to a log file per process; ``Procs.close``
SIGKILLs whatever it started and is still alive, and prints the logs' tails (shown by pytest
when the test failed).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psycopg

T = TypeVar("T")
DB = psycopg.Connection[dict[str, Any]]
SCRIPT = Path(sys.executable).with_name("diamond-pricing")

# Every process: a short lease so a takeover is quick, fast polling, quick retries, and a lock
# timeout short enough that an orphaned backend waiting on a lock gives up within seconds.
BASE_SETTINGS: dict[str, Any] = {
    "job_lease_seconds": 2,
    "job_poll_seconds": 0.2,
    "job_retry_backoff_seconds": 0.1,
    "job_lock_timeout_seconds": 2,
    "session_secret": "fault-tests",
}


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    check: Callable[[], T | None],
    *,
    timeout: float,
    interval: float = 0.02,
    what: str = "condition",
) -> T:
    """Poll ``check`` until it returns a truthy value (returned); fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def backends(db: DB, app: str) -> list[dict[str, Any]]:
    """The sessions a process (by application_name) has open on this database."""
    return db.execute(
        "SELECT pid, state, wait_event_type, wait_event, query FROM pg_stat_activity"
        " WHERE application_name = %s AND datname = current_database()",
        (app,),
    ).fetchall()


@dataclass
class Proc:
    """One service process."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    url: str | None = None

    @property
    def pid(self) -> int:
        """Its process id (part of its lease owner id ``host:pid:random``)."""
        return self.popen.pid

    def owns(self, lease_owner: str | None) -> bool:
        """True when a job's lease_owner is this process."""
        return lease_owner is not None and lease_owner.split(":")[1] == str(self.pid)

    def kill9(self) -> float:
        """SIGKILL it (no cleanup of any kind) and reap it; returns the time of the kill."""
        self.popen.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        self.popen.wait(timeout=10)
        return killed_at

    def tail(self, lines: int = 30) -> str:
        """The end of its log."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class Procs:
    """Starts service processes; ``close`` kills every one still running."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.started: list[Proc] = []

    def start(self, kind: str, db_url: str, name: str, **settings: Any) -> Proc:
        """Start ``diamond-pricing <kind>`` with DIAMOND_* settings (a serve: until it answers)."""
        proc = self.launch(kind, db_url, name, **settings)
        if proc.url is not None:
            self.wait_serving(proc)
        return proc

    def launch(self, kind: str, db_url: str, name: str, **settings: Any) -> Proc:
        """Start ``diamond-pricing <kind>`` without waiting for it."""
        env = {**os.environ, "DATABASE_URL": db_url, "PGAPPNAME": name}
        env["DIAMOND_DATA_DIR"] = str(self.workdir / f"data-{name}")
        for key, value in {**BASE_SETTINGS, **settings}.items():
            env[f"DIAMOND_{key.upper()}"] = str(value)
        args = [str(SCRIPT), kind]
        url = None
        if kind == "serve":
            port = free_port()
            args += ["--port", str(port)]
            url = f"http://127.0.0.1:{port}"
        log = self.workdir / f"{name}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                args, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=self.workdir
            )
        proc = Proc(name=name, popen=popen, log=log, url=url)
        self.started.append(proc)
        return proc

    @staticmethod
    def wait_serving(proc: Proc, timeout: float = 60) -> None:
        """Wait until a serve process answers /healthz."""
        assert proc.url is not None

        def up() -> bool:
            if proc.popen.poll() is not None:
                raise AssertionError(f"{proc.name} exited:\n{proc.tail()}")
            try:
                return httpx.get(f"{proc.url}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(up, timeout=timeout, interval=0.1, what=f"{proc.name} to serve")

    def close(self) -> None:
        """Kill whatever is still running and print each log's tail (shown on failure)."""
        for proc in self.started:
            if proc.popen.poll() is None:
                proc.popen.kill()
                proc.popen.wait(timeout=10)
        for proc in self.started:
            print(f"----- {proc.name} (pid {proc.pid}, exit {proc.popen.returncode}) -----")
            print(proc.tail())

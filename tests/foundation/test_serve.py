"""``diamond-pricing serve`` as a real process: ready, first-run setup, clean stop."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil  # type: ignore[import-untyped,unused-ignore]
import psycopg
import pytest

from diamond_pricing.auth.keys import hash_key
from diamond_pricing.db import forget_dead_handles
from tests.support import free_socket

CLI = Path(sys.executable).with_name("diamond-pricing")
KEY_BANNER = "Created the first admin API key"


@dataclass
class Served:
    """A running ``serve`` process and where it listens."""

    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def stderr(self) -> str:
        """Everything the process wrote to stderr so far."""
        return self.log.read_text(errors="replace")

    def stop(self, sig: signal.Signals) -> int:
        """Send ``sig`` and return the exit status."""
        self.process.send_signal(sig)
        return self.process.wait(timeout=30)


def running(pid: int) -> bool:
    """True while the process exists and has not exited (a zombie has exited)."""
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    sock = free_socket()
    try:
        return int(sock.getsockname()[1])
    finally:
        sock.close()


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without any service configuration, plus ``extra``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("DIAMOND_") and key != "DATABASE_URL"
    }
    return env | {"DIAMOND_RUN_JOBS": "false"} | extra


@contextmanager
def serving(
    env: dict[str, str], log: Path, *, timeout: float = 60, until_log: str | None = None
) -> Iterator[Served]:
    """Start ``diamond-pricing serve`` on a free port; wait until /readyz answers 200
    (or, with ``until_log``, until that text appears on stderr). Killed if still running after."""
    port = free_port()
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [CLI, "serve", "--port", str(port)], env=env, stdout=sink, stderr=sink
        )
    served = Served(process, f"http://127.0.0.1:{port}", log)
    try:
        deadline = time.monotonic() + timeout
        while not (until_log in served.stderr() if until_log else ready(served.url)):
            assert process.poll() is None, f"serve exited early:\n{served.stderr()}"
            assert time.monotonic() < deadline, f"serve not ready:\n{served.stderr()}"
            time.sleep(0.1)
        yield served
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def ready(url: str) -> bool:
    """True when /readyz answers 200."""
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def postmaster_of(pgdata: Path) -> tuple[int, str]:
    """The embedded server's postmaster pid and a connection URI, from postmaster.pid."""
    lines = (pgdata / "postmaster.pid").read_text().splitlines()
    return int(lines[0]), f"postgresql://postgres@/postgres?host={lines[4]}&port={lines[3]}"


def test_serve_on_database_url_migrates_creates_one_admin_key_and_stops_cleanly(
    empty_db_url: str, tmp_path: Path
) -> None:
    env = clean_env(DATABASE_URL=empty_db_url)

    with serving(env, tmp_path / "first.log") as served:
        assert httpx.get(f"{served.url}/healthz").json() == {"status": "ok"}
        assert served.stop(signal.SIGINT) == 0
    first = served.stderr()
    assert first.count(KEY_BANNER) == 1
    secrets = set(re.findall(r"dpk_[A-Za-z0-9_-]{20,}", first))
    assert len(secrets) == 1

    with psycopg.connect(empty_db_url) as conn:
        assert conn.execute("SELECT count(*) FROM diamonds").fetchone() == (0,)  # no demo data
        keys = conn.execute("SELECT role, key_hash FROM api_keys").fetchall()
    assert keys == [("admin", hash_key(secrets.pop()))]

    with serving(env, tmp_path / "second.log") as served:
        assert served.stop(signal.SIGTERM) == 0
    assert KEY_BANNER not in served.stderr()  # shown once, on the first start only


def test_embedded_serve_loads_demo_data_and_leaves_no_postgres_behind() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="dps-", dir="/tmp"))  # short: unix socket paths
    pgdata = data_dir / "pg"
    postmasters: list[int] = []
    try:
        # Stopped while loading a big demo inventory: the load rolls back, postgres stops.
        env = clean_env(DIAMOND_DATA_DIR=str(data_dir), DIAMOND_DEMO_COUNT="5000000")
        with serving(env, data_dir / "first.log", timeout=90, until_log="demo diamonds") as served:
            postmasters.append(postmaster_of(pgdata)[0])
            assert served.stop(signal.SIGTERM) == 0, served.stderr()
        assert not running(postmasters[-1]), "embedded postgres still running"

        # Next start: still empty, so the (smaller) demo inventory is loaded.
        env = clean_env(DIAMOND_DATA_DIR=str(data_dir), DIAMOND_DEMO_COUNT="2000")
        with serving(env, data_dir / "second.log", timeout=90) as served:
            postmaster, uri = postmaster_of(pgdata)
            postmasters.append(postmaster)
            with psycopg.connect(uri) as conn:
                assert conn.execute("SELECT count(*) FROM diamonds").fetchone() == (2000,)
                assert conn.execute("SELECT count(*) FROM api_keys").fetchone() == (1,)
            assert served.stop(signal.SIGINT) == 0, served.stderr()
        assert KEY_BANNER in served.stderr()

        assert not running(postmaster), "embedded postgres still running"
        assert not (pgdata / "postmaster.pid").exists()
        assert not [
            p for p in psutil.process_iter(["cmdline"]) if str(pgdata) in (p.info["cmdline"] or [])
        ]
    finally:
        for pid in postmasters:
            if running(pid):
                os.kill(pid, signal.SIGINT)  # don't leave our own server running
                psutil.Process(pid).wait(timeout=30)
        shutil.rmtree(data_dir, ignore_errors=True)


def test_handles_of_exited_processes_are_forgotten(tmp_path: Path) -> None:
    exited = subprocess.Popen([sys.executable, "-c", "pass"])
    exited.wait()
    handles = tmp_path / ".handle_pids.json"
    handles.write_text(f"[{os.getpid()}, {exited.pid}]")

    assert forget_dead_handles(tmp_path) == [exited.pid]
    assert handles.read_text() == f"[{os.getpid()}]"
    assert forget_dead_handles(tmp_path) == []


@pytest.mark.parametrize("content", [None, "not json", "{}"])
def test_a_missing_or_odd_handle_list_is_left_alone(tmp_path: Path, content: str | None) -> None:
    if content is not None:
        (tmp_path / ".handle_pids.json").write_text(content)
    assert forget_dead_handles(tmp_path) == []

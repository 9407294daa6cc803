"""Two and more real server processes on one database: a bump through one reaches the others."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from diamond_pricing.auth.keys import Role, create_key
from tests.catalog.helpers import diamond, put_diamonds
from tests.support import create_database_from, drop_database, run_async, with_database

SERVE = str(Path(sys.executable).parent / "diamond-pricing")
QUERY = {"feed": "shared"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Replica:
    """One ``diamond-pricing serve`` process."""

    process: subprocess.Popen[bytes]
    url: str

    def etag(self) -> str:
        response = httpx.get(f"{self.url}/api/v2/diamonds", params=QUERY, timeout=10)
        assert response.status_code == 200
        return response.headers["etag"]


def start_replica(db_url: str, log: Path, **env: str) -> Replica:
    port = free_port()
    environment = {
        **os.environ,
        "DATABASE_URL": db_url,
        "DIAMOND_RUN_JOBS": "false",
        "DIAMOND_MIGRATE_ON_START": "false",
        **env,
    }
    process = subprocess.Popen(
        [SERVE, "serve", "--port", str(port)],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )
    return Replica(process=process, url=f"http://127.0.0.1:{port}")


def wait_ready(replica: Replica, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if replica.process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{replica.url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server did not start: {log.read_text()[-2000:]}")


@dataclass
class Cluster:
    """A listening process and a poll-only process on one database (each writes for the other)."""

    listening: Replica
    polling: Replica
    key: str


@pytest.fixture(scope="module")
def cluster(
    pg_server_uri: str, template_db: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    name = create_database_from(pg_server_uri, template_db)
    url = with_database(pg_server_uri, name)
    logs = tmp_path_factory.mktemp("replicas")
    replicas: list[Replica] = []
    try:
        _, key = run_async(url, lambda conn: create_key(conn, name="ingest", role=Role.INGEST))
        specs = {
            "listening": {"DIAMOND_CACHE_POLL_SECONDS": "600"},
            "polling": {"DIAMOND_CACHE_LISTEN": "false", "DIAMOND_CACHE_POLL_SECONDS": "1"},
        }
        started = {
            role: start_replica(url, logs / f"{role}.log", **env) for role, env in specs.items()
        }
        replicas.extend(started.values())
        for role, replica in started.items():
            wait_ready(replica, logs / f"{role}.log")
        with httpx.Client(base_url=started["polling"].url, timeout=30) as client:
            assert put_diamonds(client, key, "shared", [diamond("S-1")]).status_code == 200
        yield Cluster(key=key, **started)
    finally:
        for replica in replicas:
            replica.process.terminate()
        for replica in replicas:
            try:
                replica.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                replica.process.kill()
        drop_database(pg_server_uri, name)


def bump_through(writer: Replica, cluster: Cluster, price: str) -> None:
    with httpx.Client(base_url=writer.url, timeout=30) as client:
        response = put_diamonds(client, cluster.key, "shared", [diamond("S-1", feed_price=price)])
        assert response.status_code == 200


def seconds_until_changed(replica: Replica, before: str, timeout: float) -> float:
    started = time.monotonic()
    while replica.etag() == before:
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{replica.url} still serves the old page after {timeout} s")
        time.sleep(0.01)
    return time.monotonic() - started


def test_a_bump_through_one_process_reaches_a_listening_one_within_a_second(
    cluster: Cluster,
) -> None:
    before = cluster.listening.etag()
    assert cluster.listening.etag() == before  # cached
    bump_through(cluster.polling, cluster, "1234.00")
    assert seconds_until_changed(cluster.listening, before, timeout=5) < 1.0
    body = httpx.get(f"{cluster.listening.url}/api/v2/diamonds", params=QUERY).json()
    assert body["data"]["diamonds"][0]["feed_price"] == "1234.00"


def test_without_listen_a_bump_is_seen_within_the_poll_interval(cluster: Cluster) -> None:
    before = cluster.polling.etag()
    bump_through(cluster.listening, cluster, "4321.00")
    assert seconds_until_changed(cluster.polling, before, timeout=5) < 1.0 + 0.5
    body = httpx.get(f"{cluster.polling.url}/api/v2/diamonds", params=QUERY).json()
    assert body["data"]["diamonds"][0]["feed_price"] == "4321.00"

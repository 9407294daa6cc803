"""A real ``diamond-pricing serve`` never writes an API key to its output, however it is sent.

The only exception is by design: on a database without an admin key, ``serve`` creates one and
prints it once, with a login link that carries it in the URL fragment (``/login#key=...``),
which browsers never send to the server, so the access log (which logs paths and query
strings) never sees it.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from diamond_pricing.auth.keys import Role, create_key
from tests.support import free_socket, run_async

CLI = Path(sys.executable).with_name("diamond-pricing")
BANNER = "Created the first admin API key"
LINK = re.compile(r"(http://\S+)/login#key=(dpk_\S+)")


@pytest.fixture
def served(db_url: str, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """``serve`` on the test database (no admin key yet), stdout and stderr in one log file."""
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIAMOND_")}
    env |= {
        "DATABASE_URL": db_url,
        "DIAMOND_DATA_DIR": str(tmp_path / "data"),
        "DIAMOND_RUN_JOBS": "false",
    }
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(CLI), "serve", "--port", str(port)], env=env, stdout=sink, stderr=sink
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while not ready(url):
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        yield url, log
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def ready(url: str) -> bool:
    """True once /readyz answers 200."""
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def use_every_way(url: str, secret: str) -> None:
    """Send ``secret`` in every way a client can, successfully and not."""
    with httpx.Client(base_url=url, timeout=30) as client:
        assert client.get("/api/v2/pricing-rules", headers={"X-API-Key": secret}).status_code in {
            200,
            403,
        }
        bearer = {"Authorization": f"Bearer {secret}"}
        assert client.get("/api/v2/pricing-rules", headers=bearer).status_code in {200, 403}
        client.post("/api/v2/pricing-rules", json={"priority": 4}, headers=bearer)
        client.post("/api/v2/pricing/quote", json={"feed": secret, "feed_price": 1}, headers=bearer)
        client.get("/api/v2/pricing-rules", headers={"X-API-Key": secret + "-wrong"})
        client.get("/api/v2/pricing-rules", headers={"Authorization": f"Bearer {secret}x"})
        client.get(f"/login#key={secret}")  # the link: the fragment stays in the browser
        client.post("/login", data={"key": secret, "next": "/rules"})
        client.post("/login", data={"key": secret + "x", "next": "/rules"})
        client.get("/rules")


def test_keys_never_reach_the_log(served: tuple[str, Path], db_url: str) -> None:
    url, log = served
    _, reader = run_async(db_url, lambda conn: create_key(conn, name="reader", role=Role.READ))
    startup = log.read_text()
    assert BANNER in startup
    match = LINK.search(startup)
    assert match, startup
    assert match.group(1) == url
    admin = match.group(2)

    use_every_way(url, admin)
    use_every_way(url, reader)
    time.sleep(0.3)  # let the access log flush
    output = log.read_text()

    assert 'POST /login HTTP/1.1" 303' in output  # the access log is on and saw the requests
    assert 'GET /api/v2/pricing-rules HTTP/1.1" 401' in output
    banner_lines = [line for line in output.splitlines() if admin in line]
    assert len(banner_lines) == 2 and BANNER in banner_lines[0], banner_lines
    # Printed once at start-up (and its link), never again, not even in part.
    assert output.count(admin) == output.count(admin[4:24]) == 2
    for secret in (reader, reader[4:24], hashlib.sha256(admin.encode()).hexdigest()):
        assert secret not in output

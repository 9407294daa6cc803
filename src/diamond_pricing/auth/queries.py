"""SQL for API keys: one statement per function."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from diamond_pricing.db import DictConn

KEY_COLUMNS = "id, name, key_hash, role, active, expires_at, created_at, last_used_at"


async def insert_key(
    conn: DictConn, *, name: str, key_hash: str, role: str, expires_at: datetime | None
) -> dict[str, Any]:
    """Store a new key's hash."""
    cur = await conn.execute(
        f"INSERT INTO api_keys (name, key_hash, role, expires_at)"
        f" VALUES (%(name)s, %(key_hash)s, %(role)s, %(expires_at)s) RETURNING {KEY_COLUMNS}",
        {"name": name, "key_hash": key_hash, "role": role, "expires_at": expires_at},
    )
    row = await cur.fetchone()
    assert row is not None
    return row


async def get_key_by_hash(conn: DictConn, *, key_hash: str) -> dict[str, Any] | None:
    """Find a key by its hash (any state)."""
    cur = await conn.execute(
        f"SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = %(key_hash)s", {"key_hash": key_hash}
    )
    return await cur.fetchone()


async def touch_key(conn: DictConn, *, key_id: UUID) -> None:
    """Record that a key was used (at most once a minute, to keep writes rare)."""
    await conn.execute(
        "UPDATE api_keys SET last_used_at = now() WHERE id = %(id)s"
        " AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
        {"id": key_id},
    )


async def list_keys(conn: DictConn) -> list[dict[str, Any]]:
    """All keys, newest first."""
    cur = await conn.execute(f"SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at DESC, id")
    return await cur.fetchall()


async def revoke_key(conn: DictConn, *, name: str) -> int:
    """Deactivate the active key with this name; return how many were revoked."""
    cur = await conn.execute(
        "UPDATE api_keys SET active = false WHERE name = %(name)s AND active", {"name": name}
    )
    return cur.rowcount


async def count_active_admin_keys(conn: DictConn) -> int:
    """How many usable admin keys exist."""
    cur = await conn.execute(
        "SELECT count(*) AS n FROM api_keys WHERE role = 'admin' AND active"
        " AND (expires_at IS NULL OR expires_at > now())"
    )
    row = await cur.fetchone()
    return int(row["n"]) if row else 0


async def get_key_by_id(conn: DictConn, *, key_id: UUID) -> dict[str, Any] | None:
    """Find a key by id (any state)."""
    cur = await conn.execute(
        f"SELECT {KEY_COLUMNS} FROM api_keys WHERE id = %(id)s", {"id": key_id}
    )
    return await cur.fetchone()

"""API keys: generation, hashing, authentication and role checks."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from diamond_pricing.auth import queries
from diamond_pricing.db import DictConn

KEY_PREFIX = "dpk_"


class Role(StrEnum):
    """What a key may do: admin everything, ingest feed upserts, read catalog and rules."""

    ADMIN = "admin"
    INGEST = "ingest"
    READ = "read"


@dataclass(frozen=True)
class ApiKey:
    """An authenticated key (never the secret itself)."""

    id: UUID
    name: str
    role: Role
    active: bool
    expires_at: datetime | None
    created_at: datetime
    last_used_at: datetime | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ApiKey:
        """Build from an ``api_keys`` row."""
        return cls(
            id=row["id"],
            name=row["name"],
            role=Role(row["role"]),
            active=row["active"],
            expires_at=row["expires_at"],
            created_at=row["created_at"],
            last_used_at=row["last_used_at"],
        )

    def is_usable(self, now: datetime) -> bool:
        """True when active and not expired."""
        return self.active and (self.expires_at is None or self.expires_at > now)

    def may(self, role: Role) -> bool:
        """True when this key's role grants ``role`` (admin grants everything)."""
        return self.role == Role.ADMIN or self.role == role


def hash_key(secret: str) -> str:
    """SHA-256 hex digest of a key: the only form a key is stored in."""
    return hashlib.sha256(secret.encode()).hexdigest()


def generate_secret() -> str:
    """A new random key."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


async def create_key(
    conn: DictConn, *, name: str, role: Role, expires_at: datetime | None = None
) -> tuple[ApiKey, str]:
    """Create a key; return it and its secret (shown once, never stored)."""
    secret = generate_secret()
    row = await queries.insert_key(
        conn, name=name, key_hash=hash_key(secret), role=role.value, expires_at=expires_at
    )
    return ApiKey.from_row(row), secret


async def authenticate(conn: DictConn, *, secret: str) -> ApiKey | None:
    """The usable key with this secret, or None."""
    if not secret or len(secret) > 256:
        return None
    digest = hash_key(secret)
    row = await queries.get_key_by_hash(conn, key_hash=digest)
    if row is None or not hmac.compare_digest(row["key_hash"], digest):
        return None
    key = ApiKey.from_row(row)
    if not key.is_usable(datetime.now(UTC)):
        return None
    await queries.touch_key(conn, key_id=key.id)
    return key


async def list_keys(conn: DictConn) -> list[ApiKey]:
    """Every key (active, revoked or expired), newest first; never the secret or its hash."""
    return [ApiKey.from_row(row) for row in await queries.list_keys(conn)]


async def revoke_key(conn: DictConn, *, name: str) -> bool:
    """Deactivate the active key with this name; False when there is none."""
    return await queries.revoke_key(conn, name=name) > 0

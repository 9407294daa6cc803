"""HTTP routes of the pricing domain (under /api/v2)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()

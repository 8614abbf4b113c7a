"""Operators of the operations centre and the API tokens their scripts use."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base


class Role(StrEnum):
    """What an operator may do; each role includes the ones before it, except that callback adds revealing numbers."""

    viewer = "viewer"  # sees incidents, units, zones, the map
    operator = "operator"  # acts on incidents, units' status and positions, road closures
    callback = "callback"  # an operator who may also reveal a reporter's number to call back (audited)
    admin = "admin"  # manages operators, units, zones, roads and partners


class Operator(Base):
    """A person who signs in to Kengele."""

    __tablename__ = "operator"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)  # argon2id, with its parameters
    role: Mapped[str] = mapped_column(String(12))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]
    last_login_at: Mapped[datetime | None]


class ApiToken(Base):
    """A bearer token: only its keyed hash is stored, so a database dump yields no usable token."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    operator_id: Mapped[int] = mapped_column(ForeignKey("operator.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

"""Units as the API shows and takes them; contacts go in clear over TLS and come back masked only."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from app.units.models import Mobility, UnitKind, UnitStatus


class ContactOut(BaseModel):
    """A way to reach a unit, masked."""

    id: int
    channel: str
    address_masked: str


class UnitOut(BaseModel):
    """A unit, with where it is and how it is reached (masked)."""

    id: int
    name: str
    kind: UnitKind
    sector: str | None
    capabilities: list[str]
    mobility: Mobility
    speed_kmh: float | None
    status: UnitStatus
    lat: float
    lon: float
    place: str | None
    position_at: datetime
    contacts: list[ContactOut] = []


class ContactIn(BaseModel):
    """An SMS or voice number (any form; stored as E.164), or a webhook URL with its signing secret."""

    channel: Literal["sms", "voice", "webhook"]
    address: str = Field(min_length=3, max_length=500)
    secret: str | None = Field(default=None, min_length=16, max_length=200)

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> ContactIn:
        if (self.channel == "webhook") != (self.secret is not None):
            raise ValueError("a webhook needs a secret (16+ characters), and only a webhook has one")
        return self


class UnitIn(BaseModel):
    """A unit to create or replace (admin)."""

    name: str = Field(min_length=1, max_length=100)
    kind: UnitKind
    sector: str | None = Field(default=None, max_length=50)
    capabilities: list[str] = Field(default_factory=list, max_length=20)
    mobility: Mobility = Mobility.vehicle
    speed_kmh: float | None = Field(default=None, ge=0.5, le=400)
    status: UnitStatus = UnitStatus.available
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    place: str | None = Field(default=None, max_length=200)
    contacts: list[ContactIn] = Field(default_factory=list, max_length=10)


class UnitPatch(BaseModel):
    """What an operator on duty changes: status and position (a patrol on the move)."""

    status: UnitStatus | None = None
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    place: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _position_whole(self) -> UnitPatch:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("a position needs both lat and lon")
        return self

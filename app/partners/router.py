"""Partner networks' API keys, managed by admins: list, issue (shown once), revoke."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, HTTPException, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from app.audit import service as audit
from app.core.deps import SessionDep, VaultDep
from app.operators.dependencies import Admin
from app.partners import service
from app.partners.models import Partner

router = APIRouter(prefix="/api/v1/partners", tags=["partners"])
FORBIDDEN = {401: {"description": "No, or no live, bearer token"}, 403: {"description": "Role too low"}}


class PartnerIn(BaseModel):
    """A partner network to register."""

    # No control characters: they have no place in a name, and the revoke path below could not carry them.
    name: str = Field(min_length=1, max_length=120, pattern=r"^[^\x00-\x1f\x7f]+$")


class PartnerOut(BaseModel):
    """A partner, its key shown only by its first characters."""

    name: str
    api_key_prefix: str
    created_at: datetime
    revoked_at: datetime | None


class IssuedOut(BaseModel):
    """The key and signing secret: shown this once, never stored in clear."""

    name: str
    api_key: str
    signing_secret: str


@router.get("", responses=FORBIDDEN)
def list_partners(_: Admin, session: SessionDep) -> list[PartnerOut]:
    """Every partner network, revoked ones included."""
    return [PartnerOut.model_validate(p, from_attributes=True)
            for p in session.scalars(select(Partner).order_by(Partner.name))]  # fmt: skip


@router.post("", status_code=201, responses={**FORBIDDEN, 409: {"description": "Name taken"}})
def create_partner(body: PartnerIn, admin: Admin, session: SessionDep, vault: VaultDep) -> IssuedOut:
    """Register a partner network and issue its API key and signing secret."""
    if session.scalar(select(Partner.id).where(Partner.name == body.name)) is not None:
        raise HTTPException(409, f"a partner is already called {body.name!r}")
    issued = service.create(session=session, vault=vault, name=body.name)
    audit.record(session=session, actor=admin.username, action="partner.create", target=f"partner:{issued.partner_id}")
    return IssuedOut(name=body.name, api_key=issued.api_key, signing_secret=issued.signing_secret)


# `:path`: a name may hold a "/" (nothing forbids one), and a partner must always be revocable.
@router.delete("/{name:path}", status_code=204, response_class=Response,
               responses={**FORBIDDEN, 404: {"description": "No such partner"}})  # fmt: skip
def revoke_partner(name: str, admin: Admin, session: SessionDep) -> Response:
    """Revoke a partner's key: its requests are refused from now on."""
    if not service.revoke(session=session, name=name):
        raise HTTPException(404, f"no partner {name[:40]!r}")
    audit.record(session=session, actor=admin.username, action="partner.revoke", target=f"partner:{name[:60]}")
    return Response(status_code=204)

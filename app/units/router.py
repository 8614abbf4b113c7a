"""Units through the API: list (viewer), status and position (operator), create, replace, remove (admin)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response
from sqlalchemy import select

from app.audit import service as audit
from app.core.deps import RowId, SessionDep, SettingsDep, VaultDep
from app.core.errors import invalid
from app.operators.dependencies import Admin, OperatorOnDuty, Viewer
from app.reporters.phones import to_e164
from app.units import service
from app.units.models import Unit, UnitContact
from app.units.schemas import ContactOut, UnitIn, UnitOut, UnitPatch

router = APIRouter(prefix="/api/v1/units", tags=["units"])
FORBIDDEN = {401: {"description": "No, or no live, bearer token"}, 403: {"description": "Role too low"}}
MISSING = {**FORBIDDEN, 404: {"description": "No such unit"}}
TAKEN = {409: {"description": "Name taken"}}


@router.get("", responses=FORBIDDEN)
def list_units(_: Viewer, session: SessionDep) -> list[UnitOut]:
    """Every unit, with masked contacts."""
    contacts: dict[int, list[ContactOut]] = {}
    for contact in session.scalars(select(UnitContact).order_by(UnitContact.id)):
        contacts.setdefault(contact.unit_id, []).append(ContactOut.model_validate(contact, from_attributes=True))
    return [_out(u, contacts.get(u.id, [])) for u in session.scalars(select(Unit).order_by(Unit.name))]


@router.post("", status_code=201, responses={**FORBIDDEN, **TAKEN})
def create_unit(body: UnitIn, admin: Admin, session: SessionDep, vault: VaultDep, settings: SettingsDep) -> UnitOut:
    """Create a unit with its contacts."""
    if session.scalar(select(Unit.id).where(Unit.name == body.name)) is not None:
        raise HTTPException(409, f"a unit is already called {body.name!r}")
    unit = _save(session, vault, settings.default_region, None, body)
    audit.record(session=session, actor=admin.username, action="unit.create", target=f"unit:{unit.id}")
    return _detail(session, unit)


@router.put("/{unit_id}", responses={**MISSING, **TAKEN})
def replace_unit(
    unit_id: RowId, body: UnitIn, admin: Admin, session: SessionDep, vault: VaultDep, settings: SettingsDep
) -> UnitOut:
    """Replace a unit's description and contacts."""
    unit = _get(session, unit_id)
    if session.scalar(select(Unit.id).where(Unit.name == body.name, Unit.id != unit.id)) is not None:
        raise HTTPException(409, f"a unit is already called {body.name!r}")
    _save(session, vault, settings.default_region, unit, body)
    audit.record(session=session, actor=admin.username, action="unit.replace", target=f"unit:{unit.id}")
    return _detail(session, unit)


@router.patch("/{unit_id}", responses=MISSING)
def update_unit(unit_id: RowId, body: UnitPatch, operator: OperatorOnDuty, session: SessionDep) -> UnitOut:
    """Change a unit's status, or move it."""
    unit = _get(session, unit_id)
    if body.status is not None:
        unit.status = body.status
    if body.lat is not None and body.lon is not None:
        service.update_position(session=session, unit=unit, lat=body.lat, lon=body.lon, place=body.place)
    audit.record(session=session, actor=operator.username, action="unit.update", target=f"unit:{unit.id}",
                 **body.model_dump(exclude_none=True, mode="json"))  # fmt: skip
    return _detail(session, unit)


@router.delete("/{unit_id}", status_code=204, response_class=Response, responses=MISSING)
def delete_unit(unit_id: RowId, admin: Admin, session: SessionDep) -> Response:
    """Take a unit off the roster (it is marked offline: past alerts still name it)."""
    unit = _get(session, unit_id)
    unit.status = "offline"
    audit.record(session=session, actor=admin.username, action="unit.offline", target=f"unit:{unit.id}")
    return Response(status_code=204)


def _get(session, unit_id: int) -> Unit:
    unit = session.get(Unit, unit_id)
    if unit is None:
        raise HTTPException(404, f"no unit {unit_id}")
    return unit


def _save(session, vault, region: str, unit: Unit | None, body: UnitIn) -> Unit:
    contacts = []
    for i, contact in enumerate(body.contacts):
        address = contact.address.strip()
        if contact.channel in ("sms", "voice"):
            address = to_e164(address, region) or ""
            if not address:
                raise invalid(("body", "contacts", i, "address"), f"contacts[{i}]: not a phone number")
        elif not address.startswith(("https://", "http://")):
            raise invalid(("body", "contacts", i, "address"), f"contacts[{i}]: a webhook address is an http(s) URL")
        contacts.append((contact.channel, address, contact.secret))
    values = body.model_dump(exclude={"contacts"}, mode="json")
    unit = service.save_unit(session=session, unit=unit, values=values)
    service.set_contacts(session=session, vault=vault, unit=unit, contacts=contacts)
    return unit


def _detail(session, unit: Unit) -> UnitOut:
    contacts = session.scalars(select(UnitContact).where(UnitContact.unit_id == unit.id).order_by(UnitContact.id))
    return _out(unit, [ContactOut.model_validate(c, from_attributes=True) for c in contacts])


def _out(unit: Unit, contacts: list[ContactOut]) -> UnitOut:
    return UnitOut.model_validate({**{k: getattr(unit, k) for k in UnitOut.model_fields if k != "contacts"},
                                   "contacts": contacts})  # fmt: skip

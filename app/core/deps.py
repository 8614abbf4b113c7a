"""Request dependencies shared by the routers, as Annotated aliases."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Path, Request
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.db import MAX_ROW_ID, transaction
from app.intake.flows import IntakeGateway
from app.security.crypto import Vault
from app.security.keys import Keys


# The app's own objects, read from app.state: async because they do no I/O, so FastAPI calls them on the event loop
# instead of handing each to its thread pool (a thread hop per dependency, per request).
async def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


async def get_keys(request: Request) -> Keys:
    return request.app.state.keys


async def get_vault(request: Request) -> Vault:
    return request.app.state.vault


async def get_gateway(request: Request) -> IntakeGateway:
    return request.app.state.gateway


def get_session(request: Request) -> Iterator[Session]:
    """One transaction per request: committed when the route returns, rolled back if it raises."""
    with transaction(request.app.state.sessionmaker) as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
KeysDep = Annotated[Keys, Depends(get_keys)]
VaultDep = Annotated[Vault, Depends(get_vault)]
GatewayDep = Annotated[IntakeGateway, Depends(get_gateway)]
# scope="function": commit before the answer is sent, so a client never reads back something not yet stored.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
# A row id in a path: a number no row can have is refused (422) before any query.
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]

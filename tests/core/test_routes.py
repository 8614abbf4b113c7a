"""RequestOnlyRoute: the endpoint gets the Request as it is, and nothing it would silently ignore is allowed."""

from __future__ import annotations

from typing import Annotated

import pytest
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.testclient import TestClient

from app.core.routes import RequestOnlyRoute


async def echo(request: Request) -> Response:
    return Response(await request.body(), media_type="text/plain")


def test_the_endpoint_is_called_with_the_request_and_its_answer_sent_as_it_is():
    app = FastAPI()
    app.router.add_api_route("/echo", echo, methods=["POST"], route_class_override=RequestOnlyRoute)
    answer = TestClient(app).post("/echo", content=b"ping")
    assert answer.status_code == 200 and answer.text == "ping"
    assert "/echo" in app.openapi()["paths"]


async def with_query(request: Request, page: int = 1) -> Response:
    return Response(str(page))


async def with_dependency(request: Request, value: Annotated[int, Depends(lambda: 1)]) -> Response:
    return Response(str(value))


@pytest.mark.parametrize("endpoint", [with_query, with_dependency])
def test_an_endpoint_with_anything_but_the_request_is_refused(endpoint):
    with pytest.raises(TypeError, match="nothing else"):
        APIRouter().add_api_route("/x", endpoint, route_class_override=RequestOnlyRoute)


def test_a_router_dependency_is_refused_too():
    router = APIRouter(dependencies=[Depends(lambda: None)])
    with pytest.raises(TypeError, match="nothing else"):
        router.add_api_route("/x", echo, route_class_override=RequestOnlyRoute)

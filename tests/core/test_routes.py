"""RequestOnlyRoute and HotPathApp: the endpoint gets the Request as it is, ahead of the stack, nothing ignored."""

from __future__ import annotations

from typing import Annotated

import pytest
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient

from app.core.headers import SecurityHeaders
from app.core.routes import HotPathApp, RequestOnlyRoute


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


def hot_app() -> HotPathApp:
    """A HotPathApp with one hot route, a header middleware, and handlers for an HTTP error and a crash."""
    app = HotPathApp()
    app.add_middleware(SecurityHeaders, https=False)

    async def refused(request: Request) -> Response:
        raise HTTPException(403, "no")

    async def broken(request: Request) -> Response:
        raise RuntimeError("bug")

    for path, endpoint in (("/echo", echo), ("/refused", refused), ("/broken", broken)):
        app.router.add_api_route(path, endpoint, methods=["POST"], route_class_override=RequestOnlyRoute)

    async def teapot(_request: Request, exc: Exception) -> Response:
        return JSONResponse({"handled": str(exc.detail)}, status_code=418)

    async def crashed(_request: Request, exc: Exception) -> Response:
        return JSONResponse({"crash": type(exc).__name__}, status_code=500)

    app.add_exception_handler(HTTPException, teapot)
    app.add_exception_handler(Exception, crashed)
    return app


def test_a_hot_route_is_served_ahead_of_the_stack_with_the_apps_middleware_and_handlers():
    app = hot_app()
    client = TestClient(app, raise_server_exceptions=False)
    answer = client.post("/echo", content=b"ping")
    assert answer.status_code == 200 and answer.text == "ping"
    assert answer.headers["x-content-type-options"] == "nosniff"  # the user middleware ran
    assert ("POST", "/echo") in app._hot_paths
    refused = client.post("/refused")
    assert refused.status_code == 418 and refused.json() == {"handled": "no"}
    assert refused.headers["cache-control"] == "no-store"
    crashed = client.post("/broken")
    assert crashed.status_code == 500 and crashed.json() == {"crash": "RuntimeError"}


def test_a_crash_on_a_hot_route_still_reaches_the_server():
    with pytest.raises(RuntimeError, match="bug"):
        TestClient(hot_app()).post("/broken")


def test_other_methods_and_paths_take_the_whole_stack():
    client = TestClient(hot_app())
    assert client.get("/echo").status_code == 405
    assert client.post("/echo/", follow_redirects=False).status_code == 307  # the router redirects it
    assert client.post("/missing").status_code == 404


def test_a_request_only_route_included_with_dependencies_is_refused():
    router = APIRouter()
    router.add_api_route("/x", echo, methods=["POST"], route_class_override=RequestOnlyRoute)
    app = HotPathApp()
    app.include_router(router, prefix="/p", dependencies=[Depends(lambda: None)])
    with pytest.raises(TypeError, match="/p/x"):
        TestClient(app).post("/p/x")


def test_a_prefix_from_include_router_is_part_of_the_hot_path():
    router = APIRouter()
    router.add_api_route("/x", echo, methods=["POST"], route_class_override=RequestOnlyRoute)
    app = HotPathApp()
    app.include_router(router, prefix="/p")
    assert TestClient(app).post("/p/x", content=b"ok").text == "ok"
    assert set(app._hot_paths) == {("POST", "/p/x")}

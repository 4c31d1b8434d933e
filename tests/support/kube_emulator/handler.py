"""The kmock side: every request becomes a `kmock.Request`, and reactions a test adds with kmock's DSL win.

`kmock.RawHandler` records each request (`handler.requests`, with bodies) and matches it against
the reactions a test declares, e.g. to inject faults::

    api.kmock["patch", kmock.resource("genesys.dev", "v1alpha1", "evolutions")] << 503

Whatever no reaction claims is served by the emulated API server (`server.ApiServer`).

kmock's own `KubernetesEmulator` is not used for the serving itself: its paths parser fails on
`/api/v1/namespaces`, and it keeps no resourceVersions, uids, generations, selectors or schemas.
"""

from __future__ import annotations

import json
import logging
import traceback
from typing import Any

import attrs
import kmock
from aiohttp import web

from kube_emulator.errors import ApiError
from kube_emulator.routing import Route, parse_path
from kube_emulator.server import ApiServer, json_response

log = logging.getLogger(__name__)


def _action(method: str, route: Route, query: dict[str, str]) -> kmock.action | None:
    if method == "GET" and query.get("watch") in ("true", "1"):
        return kmock.action.WATCH
    if route.name is None:
        return {"GET": kmock.action.LIST, "POST": kmock.action.CREATE}.get(method)
    return {"GET": kmock.action.FETCH, "PATCH": kmock.action.UPDATE, "PUT": kmock.action.UPDATE,
            "DELETE": kmock.action.DELETE}.get(method)


def _data(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


class EmulatorHandler(kmock.RawHandler):
    """A kmock handler whose fallback is the emulated API server."""

    def __init__(self, api: ApiServer) -> None:
        super().__init__()
        self.api = api

    def _request(self, raw: web.BaseRequest, body: bytes) -> kmock.Request:
        query = dict(raw.query)
        route = parse_path(raw.path, self.api.registry)
        k8s: dict[str, Any] = {}
        if isinstance(route, Route):
            k8s = {"action": _action(raw.method, route, query),
                   "resource": kmock.resource(route.group, route.version, route.plural),
                   "namespace": route.namespace, "name": route.name, "subresource": route.subresource}
        return kmock.Request(id=len(self._requests), method=raw.method, url=raw.url, params=query,
                             headers=dict(raw.headers), cookies=dict(raw.cookies), body=body,
                             text=body.decode("utf-8", "replace"), data=_data(body), raw_request=raw, **k8s)

    async def __call__(self, raw: web.BaseRequest) -> web.StreamResponse:
        body = await raw.read()
        request = self._request(raw, body)
        self._requests.append(request)
        try:
            return await self._serve(raw, request, body)
        finally:  # keep the record, not the connection's objects (long runs make many requests)
            self._requests[request.id] = attrs.evolve(request, raw_request=None)

    async def _serve(self, raw: web.BaseRequest, request: kmock.Request, body: bytes) -> web.StreamResponse:
        if self._payloads:  # reactions a test declared with kmock's DSL come first
            try:
                response = await self._handle(request)
            except NotImplementedError:
                pass  # none matched
            except Exception as err:  # noqa: BLE001  # a reaction's exception is its response
                response = self._error(err)
                self.api.record(raw, response.status)
                return response
            else:
                self.api.record(raw, response.status)
                return response
        try:
            return await self.api.serve(raw, body)
        except ApiError as err:
            return json_response(err.status(), err.code)
        except Exception as err:  # noqa: BLE001  # a bug here must reach the client as a 500, with the trace
            log.exception("the emulated API server failed on %s %s", raw.method, raw.path)
            return self._error(err)

    def _error(self, err: Exception) -> web.Response:
        if isinstance(err, kmock.KubernetesError):
            return json_response(ApiError(err.status, err.reason or type(err).__name__, err.message or repr(err),
                                          err.details or {}).status(), err.status)
        if isinstance(err, ApiError):
            return json_response(err.status(), err.code)
        return json_response(ApiError(500, "InternalError", f"{err!r}",
                                      {"causes": [{"message": traceback.format_exc()}]}).status(), 500)

"""HTTP in, Kubernetes out: routes requests to the operations, renders objects, lists, tables and watches.

Watches follow the real server: without a resourceVersion (or with "0") they start with an ADDED
event per existing object; with one they resume right after it (410 Gone once it has been compacted
away); `sendInitialEvents=true` ends the initial events with a bookmark; label and field selectors
turn an object that starts or stops matching into ADDED or DELETED; `timeoutSeconds` ends them.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from typing import Any

from aiohttp import web

from kube_emulator import discovery, errors
from kube_emulator.builtins import builtin_types
from kube_emulator.errors import ApiError
from kube_emulator.gc import Collector
from kube_emulator.operations import Context, Operations
from kube_emulator.rbac import Grants, forbidden
from kube_emulator.registry import Registry, ResourceType
from kube_emulator.routing import RequestRecord, Route, decode_body, is_watch, parse_path, rbac_verb
from kube_emulator.selectors import labels_match, parse_fields, parse_labels
from kube_emulator.store import Store, WatchEvent
from kube_emulator.tables import table

log = logging.getLogger(__name__)
BOOTSTRAP_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
WATCH_TIMEOUT = 1800.0


def json_response(body: Any, status: int = 200, warnings: list[str] | None = None,
                  content_type: str = "application/json") -> web.Response:
    response = web.Response(body=json.dumps(body).encode(), status=status, headers={"Content-Type": content_type})
    for warning in warnings or []:
        text = warning.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")
        response.headers.add("Warning", f'299 - "{text}"')
    return response


def wants_table(accept: str) -> bool:
    return "as=Table" in accept


class ApiServer:
    """The emulated API server's state and request handling (one per KubeEmulator)."""

    def __init__(self, version: str = discovery.DEFAULT_VERSION, watch_log_size: int = 50_000) -> None:
        self.version = version
        self.store = Store(watch_log_size)
        self.registry = Registry(builtin_types())
        self.ops = Operations(self.store, self.registry)
        self.collector = Collector(self.ops)
        self.ops.wake_collector = self.collector.wake
        self.request_log: list[RequestRecord] = []
        self.grants = Grants()
        self.watch_delay_seconds = 0.0
        self.stopping = False
        self.server_address = "127.0.0.1"
        self._openapi: tuple[int, dict[str, Any]] | None = None
        for name in BOOTSTRAP_NAMESPACES:
            self.ops.create(self.registry.storage("", "namespaces"),  # type: ignore[arg-type]
                            None, {"metadata": {"name": name}}, Context(user_agent="bootstrap"))
        self.store.history.clear()


    def record(self, raw: web.BaseRequest, code: int) -> None:
        """Add a request to `request_log` (verb as RBAC names it; no group for non-resource paths)."""
        agent = raw.headers.get("User-Agent", "")
        route = parse_path(raw.path, self.registry)
        if not isinstance(route, Route):
            self.request_log.append(RequestRecord(raw.method.lower(), None, None, None, None, agent, code, raw.path))
            return
        resource = f"{route.plural}/{route.subresource}" if route.subresource else route.plural
        self.request_log.append(RequestRecord(rbac_verb(raw.method, route, is_watch(dict(raw.query))), route.group,
                                              resource, route.namespace, route.name, agent, code, raw.path))

    async def serve(self, raw: web.BaseRequest, body: bytes) -> web.StreamResponse:
        query = {k: v for k, v in raw.query.items()}
        route = parse_path(raw.path, self.registry)
        if not isinstance(route, Route):
            try:
                response = self._non_resource(raw, route, raw.path)
            except ApiError as err:
                response = json_response(err.status(), err.code)
            self.record(raw, response.status)
            return response
        ctx = Context(user_agent=raw.headers.get("User-Agent", ""), dry_run=bool(query.get("dryRun")),
                      field_validation=query.get("fieldValidation") or "Warn")
        try:
            resource = f"{route.plural}/{route.subresource}" if route.subresource else route.plural
            verb = rbac_verb(raw.method, route, is_watch(query))
            if not self.grants.allows(ctx.user_agent, route.group, resource, verb):
                raise forbidden(ctx.user_agent, route, resource, verb)
            rt = self._resource_type(route, raw.path, raw.method)
            if raw.method == "GET" and is_watch(query):
                self.record(raw, 200)
                return await self._watch(raw, rt, route, query)
            response = self._resource(raw, rt, route, query, body, ctx)
        except ApiError as err:
            response = json_response(err.status(), err.code, ctx.warnings)
        self.record(raw, response.status)
        return response

    def _resource_type(self, route: Route, path: str, method: str) -> ResourceType:
        rt = self.registry.get(route.group, route.version, route.plural)
        if rt is None or (route.subresource and route.subresource not in rt.subresources):
            raise errors.no_route(path)
        if rt.namespaced and route.namespace is None and route.name is not None:
            raise errors.no_route(path)
        if rt.virtual and (method != "POST" or route.name):
            raise errors.method_not_allowed(f"{rt} can only be created")
        if rt.namespaced and route.namespace is None and method != "GET":
            raise errors.method_not_allowed(f"the server does not allow this method on the requested resource: "
                                            f"{rt} is namespaced, write it under /namespaces/<namespace>/")
        return rt


    def _resource(self, raw: web.BaseRequest, rt: ResourceType, route: Route, query: dict[str, str], body: bytes,
                  ctx: Context) -> web.Response:
        method, ns, name, sub = raw.method, route.namespace, route.name, route.subresource
        if method == "GET" and name:
            return self._one(raw, rt, self.ops.view(rt, self.ops.get(rt, ns, name)), 200, ctx, query)
        if method == "GET":
            return self._list(raw, rt, route, query)
        data = decode_body(body, raw.headers.get("Content-Type", "application/json"))
        if method == "POST" and rt.virtual:
            return json_response(self._review(self.ops.create(rt, ns, data, ctx), ctx.user_agent), 201)
        if method == "POST" and not name:
            return self._one(raw, rt, self.ops.create(rt, ns, data, ctx), 201, ctx, query)
        if method == "PUT" and name:
            return self._one(raw, rt, self.ops.update(rt, ns, name, data, ctx, sub), 200, ctx, query)
        if method == "PATCH" and name:
            existed = self.store.get(rt.storage_key, ns if rt.namespaced else None, name) is not None
            patched = self.ops.patch(rt, ns, name, raw.content_type, data, ctx, sub)
            return self._one(raw, rt, patched, 200 if existed else 201, ctx, query)
        if method == "DELETE":
            if data is not None and not isinstance(data, dict):
                raise errors.bad_request("the body of a delete must be DeleteOptions (an object)")
            options = {**(data or {}), **{k: query[k] for k in ("propagationPolicy",) if k in query}}
            if "orphanDependents" in query:
                options["orphanDependents"] = query["orphanDependents"] == "true"
            if name:
                return self._one(raw, rt, self.ops.delete(rt, ns, name, options, ctx), 200, ctx, query)
            return self._delete_collection(rt, route, query, options, ctx)
        raise errors.method_not_allowed(f"the server does not allow this method on the requested resource "
                                        f"({method} {raw.path})")

    def _review(self, review: dict[str, Any], user_agent: str) -> dict[str, Any]:
        """An access review answered by the grants (everything is allowed where nothing is granted)."""
        wanted = (review.get("spec") or {}).get("resourceAttributes") or {}
        resource = wanted.get("resource", "")
        if wanted.get("subresource"):
            resource = f"{resource}/{wanted['subresource']}"
        if not self.grants.allows(user_agent, wanted.get("group", ""), resource, wanted.get("verb", "")):
            review["status"] = {"allowed": False}
        return review

    def _one(self, raw: web.BaseRequest, rt: ResourceType, obj: dict[str, Any], status: int, ctx: Context,
             query: dict[str, str]) -> web.Response:
        if wants_table(raw.headers.get("Accept", "")) and raw.method == "GET":
            rv = obj["metadata"].get("resourceVersion", "")
            return json_response(table(rt, [obj], rv, query.get("includeObject", "Metadata")), status)
        return json_response(obj, status, ctx.warnings)

    def _selection(self, rt: ResourceType, route: Route, query: dict[str, str]) -> Any:
        labels = parse_labels(query.get("labelSelector"))
        fields = parse_fields(query.get("fieldSelector"), rt.key)
        name = route.name

        def matches(obj: dict[str, Any] | None) -> bool:
            if obj is None:
                return False
            meta = obj["metadata"]
            return ((route.namespace is None or not rt.namespaced or meta.get("namespace") == route.namespace)
                    and (name is None or meta["name"] == name) and labels_match(labels, obj) and fields(obj))

        return matches

    def _list(self, raw: web.BaseRequest, rt: ResourceType, route: Route, query: dict[str, str]) -> web.Response:
        matches = self._selection(rt, route, query)
        rv = str(self.store.resource_version)
        items = [o for o in self.ops.list(rt, route.namespace) if matches(o)]
        token = None
        if query.get("continue"):
            try:
                start = json.loads(base64.urlsafe_b64decode(query["continue"]))
                rv, after = str(start["rv"]), tuple(start["after"])
            except (ValueError, KeyError, TypeError) as err:
                raise errors.bad_request(f"continue key is not valid: {err!r}") from err
            items = [o for o in items if (o["metadata"].get("namespace", ""), o["metadata"]["name"]) > after]
        try:
            limit = int(query.get("limit") or 0)
        except ValueError as err:
            raise errors.bad_request(f"limit must be an integer: {err}") from err
        remaining = 0
        if limit and len(items) > limit:
            remaining = len(items) - limit
            items = items[:limit]
            last = items[-1]["metadata"]
            token = base64.urlsafe_b64encode(json.dumps(
                {"rv": rv, "after": [last.get("namespace", ""), last["name"]]}).encode()).decode()
        if wants_table(raw.headers.get("Accept", "")):
            return json_response(table(rt, items, rv, query.get("includeObject", "Metadata"), True, token))
        meta: dict[str, Any] = {"resourceVersion": rv}
        if token:
            meta.update({"continue": token, "remainingItemCount": remaining})
        return json_response({"apiVersion": rt.api_version, "kind": rt.list_kind, "metadata": meta, "items": items})

    def _delete_collection(self, rt: ResourceType, route: Route, query: dict[str, str], options: dict[str, Any],
                           ctx: Context) -> web.Response:
        matches = self._selection(rt, route, query)
        deleted = []
        for obj in [o for o in self.ops.list(rt, route.namespace) if matches(o)]:
            try:
                deleted.append(self.ops.delete(rt, obj["metadata"].get("namespace"), obj["metadata"]["name"],
                                               options, ctx))
            except ApiError as err:
                if err.code != 404:
                    raise
        return json_response({"apiVersion": rt.api_version, "kind": rt.list_kind,
                              "metadata": {"resourceVersion": str(self.store.resource_version)}, "items": deleted},
                             200, ctx.warnings)


    def _event_type(self, rt: ResourceType, event: WatchEvent, matches: Any) -> str | None:
        now = matches(self.ops.view(rt, event.obj))
        if event.type == "DELETED":
            return "DELETED" if now else None
        before = event.old is not None and matches(self.ops.view(rt, event.old))
        if now and before:
            return "MODIFIED"
        if now:
            return "ADDED"
        return "DELETED" if before else None

    async def _lag(self, event: WatchEvent) -> None:
        wait = event.time + self.watch_delay_seconds - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)

    async def _watch(self, raw: web.BaseRequest, rt: ResourceType, route: Route,
                     query: dict[str, str]) -> web.StreamResponse:
        matches = self._selection(rt, route, query)
        since = query.get("resourceVersion", "")
        initial = query.get("sendInitialEvents") == "true"
        as_table = wants_table(raw.headers.get("Accept", ""))
        include = query.get("includeObject", "Metadata")
        try:
            start = int(since) if since not in ("", "0") and not initial else self.store.resource_version
            timeout = float(query.get("timeoutSeconds") or 0) or WATCH_TIMEOUT  # 0: the server's default
        except ValueError as err:
            raise errors.bad_request(f"invalid watch parameters: {err}") from err
        expired = since not in ("", "0") and not initial and start < self.store.compacted_rv
        snapshot = [] if expired or since not in ("", "0") and not initial else \
            [o for o in self.ops.list(rt, route.namespace) if matches(o)]
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(raw)
        first = [True]

        async def send(kind: str, obj: dict[str, Any]) -> None:
            if as_table and kind in ("ADDED", "MODIFIED", "DELETED"):
                obj = table(rt, [obj], obj["metadata"]["resourceVersion"], include, headers=first[0])
                first[0] = False
            await response.write(json.dumps({"type": kind, "object": obj}).encode() + b"\n")

        try:
            if expired:
                await send("ERROR", errors.gone(f"too old resource version: {start} "
                                                f"({self.store.compacted_rv + 1})").status())
                return response
            for obj in snapshot:
                await send("ADDED", obj)
            if initial:
                await send("BOOKMARK", {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": {
                    "resourceVersion": str(start), "annotations": {"k8s.io/initial-events-end": "true"}}})
            await self._stream(rt, start, matches, send, time.monotonic() + timeout)
            await response.write_eof()
        except (ConnectionResetError, ConnectionError):
            pass  # the client went away
        return response

    async def _stream(self, rt: ResourceType, start: int, matches: Any, send: Any, deadline: float) -> None:
        while not self.stopping and time.monotonic() < deadline:
            if start < self.store.compacted_rv:  # the log moved on while this watch waited: start over, as kopf does
                await send("ERROR", errors.gone(f"too old resource version: {start} "
                                                f"({self.store.compacted_rv + 1})").status())
                return
            events = self.store.events_after(start)
            if not events:
                await self.store.changed(min(deadline - time.monotonic(), 5.0))
                if self.registry.get(rt.group, rt.version, rt.plural) is None:
                    return  # the CRD is gone: real servers end such watches too
                continue
            for event in events:
                start = event.rv
                if event.key != rt.storage_key:
                    continue
                kind = self._event_type(rt, event, matches)
                if kind is None:
                    continue
                await self._lag(event)
                if self.stopping:
                    return
                await send(kind, self.ops.view(rt, event.obj))


    def _openapi_index(self) -> dict[str, Any]:
        if self._openapi is None or self._openapi[0] != self.registry.generation:
            self._openapi = (self.registry.generation, discovery.openapi_index(self.registry))
        return self._openapi[1]

    def _non_resource(self, raw: web.BaseRequest, doc: str | None, path: str) -> web.Response:
        accept = raw.headers.get("Accept", "")
        if doc in ("api", "apis") and discovery.wants_aggregated(accept):
            return json_response(discovery.aggregated(self.registry, core=doc == "api"),
                                 content_type=discovery.AGGREGATED)
        if doc == "api":
            return json_response(discovery.api_versions(self.server_address))
        if doc == "apis":
            return json_response(discovery.group_list(self.registry))
        if doc is not None:
            parts = doc.split("/")
            if parts[0] == "api":
                found = discovery.resource_list(self.registry, "", parts[1]) if len(parts) == 2 else None
            elif len(parts) == 2:
                found = discovery.group(self.registry, parts[1])
            else:
                found = discovery.resource_list(self.registry, parts[1], parts[2]) if len(parts) == 3 else None
            if found is None:
                raise errors.no_route(path)
            return json_response(found)
        return self._other(path)

    def _other(self, path: str) -> web.Response:
        if path in ("/healthz", "/livez", "/readyz"):
            return web.Response(text="ok")
        if path == "/version":
            return json_response(discovery.version_info(self.version))
        if path == "/openapi/v3":
            return json_response(self._openapi_index())
        if path.startswith("/openapi/v3/"):
            parts = path[len("/openapi/v3/"):].split("/")
            group, version = ("", parts[1]) if parts[0] == "api" else (parts[1], parts[-1])
            doc = discovery.openapi_document(self.registry, group, version) if len(parts) in (2, 3) else None
            if doc is None:
                raise errors.no_route(path)
            return json_response(doc)
        if path == "/":
            groups = self.registry.groups()
            paths = ["/api", "/api/v1", "/apis", "/healthz", "/openapi/v3", "/version"]
            paths += [f"/apis/{g}/{v}" for g, vs in groups.items() if g for v in vs]
            return json_response({"paths": sorted(paths)})
        raise errors.no_route(path)

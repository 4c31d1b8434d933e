"""`KubeEmulator`: the emulated API server on 127.0.0.1, in a daemon thread with its own event loop.

    with KubeEmulator() as api:
        api.kubectl("apply", "-f", "crds/manifests")
        api.create(yaml.safe_load(open("examples/evolution-quick.yaml")))
        subprocess.run(["kopf", "run", ...], env=api.env)
        assert api.objects("Evolution")[0]["status"]["phase"] == "Running"

Everything a test reads (`objects`, `history`, `request_log`) is a copy; writes through this class
go through the same admission as HTTP requests (and show in `history` with the user agent "test").
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import yaml
from aiohttp import web

from kube_emulator.client import Reply, request
from kube_emulator.discovery import DEFAULT_VERSION
from kube_emulator.handler import EmulatorHandler
from kube_emulator.operations import Context
from kube_emulator.routing import RequestRecord
from kube_emulator.server import ApiServer
from kube_emulator.store import Write, WriteCallback, snapshot

T = TypeVar("T")
TEST_AGENT = "test"
KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"
PATCH_TYPES = {"merge": "application/merge-patch+json", "json": "application/json-patch+json",
               "strategic": "application/strategic-merge-patch+json", "apply": "application/apply-patch+yaml"}


def kubeconfig(url: str, namespace: str = "default") -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Config", "current-context": "default", "preferences": {},
        "clusters": [{"name": "default", "cluster": {"server": url}}],
        "users": [{"name": "default", "user": {"token": "kube-emulator"}}],
        "contexts": [{"name": "default", "context": {"cluster": "default", "user": "default",
                                                      "namespace": namespace}}],
    }


class KubectlError(Exception):
    """kubectl exited non-zero; the message carries its stderr and stdout."""

    def __init__(self, args: tuple[str, ...], done: subprocess.CompletedProcess[str]) -> None:
        super().__init__(f"`kubectl {' '.join(args)}` exited with {done.returncode}:\n{done.stderr}{done.stdout}")
        self.returncode, self.stdout, self.stderr = done.returncode, done.stdout, done.stderr


class KubeEmulator:
    def __init__(self, port: int = 0, workdir: str | Path | None = None, namespace: str = "default",
                 version: str = DEFAULT_VERSION, watch_log_size: int = 50_000) -> None:
        """`version` is the Kubernetes version /version reports (gcloud's kubectl picks its build by it);
        the last `watch_log_size` writes can be watched from (older resourceVersions get 410 Gone)."""
        self._port = port
        self.version = version
        self.watch_log_size = watch_log_size
        self._own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="kube-emulator-"))
        self.namespace = namespace
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._api: ApiServer | None = None
        self._handler: EmulatorHandler | None = None


    def start(self) -> Self:
        if self._thread is not None:
            raise RuntimeError("this KubeEmulator is already started; make a new one")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._run, name="kube-emulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the emulated API server did not start within 30 s")
        if self._failure is not None:
            raise RuntimeError(f"the emulated API server could not start: {self._failure!r}") from self._failure
        self.kubeconfig.write_text(yaml.safe_dump(kubeconfig(self.url, self.namespace)))
        return self

    def stop(self) -> None:
        """Stop serving (open watches end), join the thread, remove the temporary directory."""
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(15)
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as err:  # noqa: BLE001  # reported to start() instead of dying silently
            self._failure = err
        finally:
            self._ready.set()
            loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        self._api = api = ApiServer(self.version, self.watch_log_size)
        self._handler = handler = EmulatorHandler(api)
        async with handler:
            runner = web.ServerRunner(web.Server(handler, handler_cancellation=True), shutdown_timeout=1.0)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", self._port)
            await site.start()
            self._port = runner.addresses[0][1]
            api.server_address = f"127.0.0.1:{self._port}"
            collector = asyncio.create_task(api.collector.run())
            self._ready.set()
            try:
                await self._stop.wait()
            finally:
                api.stopping = True
                api.store.wake()
                collector.cancel()
                await runner.cleanup()

    def _call(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the server's loop (where all state lives) and return its result here."""
        if self._loop is None or self._api is None or self._loop.is_closed():
            raise RuntimeError("the emulated API server is not running: use `with KubeEmulator() as api:`")

        async def call() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(30)


    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig"

    @property
    def env(self) -> dict[str, str]:
        """The environment for a subprocess (kubectl, kopf) to use this server."""
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig), "KUBECACHEDIR": str(self.workdir / "cache")}

    @property
    def api(self) -> ApiServer:
        if self._api is None:
            raise RuntimeError("the emulated API server is not running")
        return self._api

    @property
    def kmock(self) -> EmulatorHandler:
        """The kmock handler: add reactions (`api.kmock[criteria] << 503`), read `api.kmock.requests`."""
        if self._handler is None:
            raise RuntimeError("the emulated API server is not running")
        return self._handler


    @property
    def history(self) -> list[Write]:
        """Every successful write so far, in order (objects deep-copied after each write)."""
        return list(self.api.store.history)

    @property
    def request_log(self) -> list[RequestRecord]:
        return list(self.api.request_log)

    @property
    def watch_delay_seconds(self) -> float:
        return self.api.watch_delay_seconds

    @watch_delay_seconds.setter
    def watch_delay_seconds(self, seconds: float) -> None:
        """Deliver every watch event this much later than its write (watch lag); 0 for none."""
        self.api.watch_delay_seconds = float(seconds)

    def on_write(self, callback: WriteCallback) -> WriteCallback:
        """Call `callback(verb, obj)` on the server's thread right after each write; usable as a decorator."""
        self.api.store.on_write.append(callback)
        return callback

    def remove_on_write(self, callback: WriteCallback) -> None:
        self._call(lambda: self.api.store.on_write.remove(callback))

    @property
    def callback_errors(self) -> list[str]:
        """Tracebacks of on_write callbacks that raised (the server carries on)."""
        return list(self.api.store.write_errors)

    def rbac_triples(self, user_agent: str | None = None, denied: bool = True) -> set[tuple[str, str, str]]:
        """(group, resource, verb) of every resource request, of user agents starting with `user_agent` if given
        (without the requests RBAC denied when `denied` is False; see `enforce_rbac`)."""
        return {(r.group, r.resource, r.verb) for r in self.request_log
                if r.group is not None and r.resource is not None and (denied or r.code != 403)
                and (user_agent is None or r.user_agent.startswith(user_agent))}

    def enforce_rbac(self, user_agent: str, granted: Iterable[tuple[str, str, str]]) -> None:
        """Answer the requests of user agents starting with `user_agent` with 403 unless their
        (group, resource, verb) is granted ("*" matches anything), as a Role would."""
        triples = list(granted)
        self._call(lambda: self.api.grants.grant(user_agent, triples))


    def _ctx(self) -> Context:
        return Context(user_agent=TEST_AGENT, field_validation="Strict")

    def objects(self, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        """The current objects of a kind ("Evolution", "evolutions", "evo", "jobs.batch"), all namespaces by default."""
        def read() -> list[dict[str, Any]]:
            rt = self.api.registry.find(kind)
            return [snapshot(o) for o in self.api.ops.list(rt, namespace)]

        return self._call(read)

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        def read() -> dict[str, Any] | None:
            rt = self.api.registry.find(kind)
            obj = self.api.store.get(rt.storage_key, (namespace or self.namespace) if rt.namespaced else None, name)
            return snapshot(self.api.ops.view(rt, obj)) if obj else None

        return self._call(read)

    def create(self, obj: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
        """Create `obj`; a `status` it carries is then written through /status (real clients need two calls)."""
        def write() -> dict[str, Any]:
            rt = self.api.registry.find(f"{obj['kind']}.{obj['apiVersion'].rpartition('/')[0]}"
                                        if "/" in obj["apiVersion"] else obj["kind"])
            ns = namespace or obj.get("metadata", {}).get("namespace") or self.namespace
            created = self.api.ops.create(rt, ns, obj, self._ctx())
            if rt.status_subresource and obj.get("status") is not None:
                meta = created["metadata"]
                created = self.api.ops.update(rt, meta.get("namespace"), meta["name"],
                                              {**created, "status": obj["status"]}, self._ctx(), "status")
            return snapshot(created)

        return self._call(write)

    def apply(self, objs: dict[str, Any] | Iterable[dict[str, Any]] | str | Path) -> list[dict[str, Any]]:
        """Create or replace objects (a dict, dicts, or a YAML file/directory of them), as a quick `kubectl apply`."""
        if isinstance(objs, (str, Path)):
            path = Path(objs)
            files = sorted(path.glob("*.yaml")) if path.is_dir() else [path]
            objs = [d for f in files for d in yaml.safe_load_all(f.read_text()) if d]
        out = []
        for obj in [objs] if isinstance(objs, dict) else list(objs):
            meta = obj.get("metadata") or {}
            current = self.get(obj["kind"], meta["name"], meta.get("namespace"))
            if current is None:
                out.append(self.create(obj))
            else:
                out.append(self.patch(obj["kind"], meta["name"], obj, meta.get("namespace"), "merge"))
        return out

    def patch(self, kind: str, name: str, patch: Any, namespace: str | None = None, patch_type: str = "merge",
              subresource: str | None = None) -> dict[str, Any]:
        def write() -> dict[str, Any]:
            rt = self.api.registry.find(kind)
            ns = (namespace or self.namespace) if rt.namespaced else None
            return snapshot(self.api.ops.patch(rt, ns, name, PATCH_TYPES.get(patch_type, patch_type), patch,
                                               self._ctx(), subresource))

        return self._call(write)

    def patch_status(self, kind: str, name: str, status: dict[str, Any],
                     namespace: str | None = None) -> dict[str, Any]:
        """Merge `status` into an object's status (through /status when the kind has it)."""
        rt = self._call(lambda: self.api.registry.find(kind))
        return self.patch(kind, name, {"status": status}, namespace, "merge",
                          "status" if rt.status_subresource else None)

    def delete(self, kind: str, name: str, namespace: str | None = None,
               propagation: str = "Background") -> dict[str, Any]:
        def write() -> dict[str, Any]:
            rt = self.api.registry.find(kind)
            ns = (namespace or self.namespace) if rt.namespaced else None
            return snapshot(self.api.ops.delete(rt, ns, name, {"propagationPolicy": propagation}, self._ctx()))

        return self._call(write)

    def request(self, method: str, path: str, body: Any = None, content_type: str = "application/json",
                headers: dict[str, str] | None = None) -> Reply:
        """One raw HTTP request to this server (any status code is a Reply; see client.py)."""
        return request(self.url, method, path, body, content_type, headers)

    def wait_for(self, predicate: Callable[[], T], timeout: float = 10.0, what: str = "the condition") -> T:
        """Poll `predicate` until it returns something truthy (returned); an AssertionError after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} did not hold within {timeout} s")
            time.sleep(0.05)

    def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run the real kubectl against this server; with check=True a failure raises, showing its stderr."""
        cache = tempfile.mkdtemp(prefix="cache-", dir=self.workdir)  # no discovery cached across calls
        cmd = [KUBECTL, f"--kubeconfig={self.kubeconfig}", f"--cache-dir={cache}", *args]
        try:
            done = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout, env=self.env)
        finally:
            shutil.rmtree(cache, ignore_errors=True)
        if check and done.returncode != 0:
            raise KubectlError(args, done)
        return done

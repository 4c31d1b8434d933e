"""The object store: objects by group/plural, one global resourceVersion, the watch log, the history.

Stored objects are never mutated: every write stores a new dict, so watch events and lists can
hand them out without copies. `history` gets deep copies (tests may mutate what they read).
Everything here runs on the server's event loop thread.
"""

from __future__ import annotations

import asyncio
import bisect
import copy
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

WriteCallback = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True)
class WatchEvent:
    rv: int
    type: str  # ADDED | MODIFIED | DELETED
    key: tuple[str, str]  # (group, plural)
    obj: dict[str, Any]
    old: dict[str, Any] | None  # the state before (for selectors that stop or start matching)
    time: float  # time.monotonic() of the write (watch delays count from it)


@dataclass(frozen=True)
class Write:
    """One successful write, as `KubeEmulator.history` lists them."""

    verb: str  # create | update | patch | delete (a delete that only marks the object is a "delete" too)
    kind: str
    namespace: str | None
    name: str
    resource_version: str
    object: dict[str, Any]  # a deep copy of the object after the write (the last state for a deletion)
    group: str = ""
    resource: str = ""  # plural, with the subresource: "verificationjobs/status"
    user_agent: str = ""
    deleted: bool = False  # the object is gone after this write


class Store:
    def __init__(self, max_events: int = 50_000) -> None:
        self._objects: dict[tuple[str, str], dict[tuple[str, str], dict[str, Any]]] = {}
        self._rv = 1000
        self._events: list[WatchEvent] = []
        self._max_events = max_events
        self._compacted_rv = self._rv  # events at or before this rv are gone (410 Gone for watches)
        self._changed = asyncio.Event()
        self.history: list[Write] = []
        self.on_write: list[WriteCallback] = []
        self.write_errors: list[str] = []  # tracebacks of failing on_write callbacks

    @property
    def resource_version(self) -> int:
        return self._rv

    @property
    def compacted_rv(self) -> int:
        return self._compacted_rv

    def get(self, key: tuple[str, str], namespace: str | None, name: str) -> dict[str, Any] | None:
        return self._objects.get(key, {}).get((namespace or "", name))

    def items(self, key: tuple[str, str], namespace: str | None = None) -> list[dict[str, Any]]:
        """Objects of a group/plural (in one namespace, or all), ordered as etcd orders them."""
        found = self._objects.get(key, {})
        return [found[k] for k in sorted(found) if namespace is None or k[0] == namespace]

    def everything(self) -> Iterator[tuple[tuple[str, str], dict[str, Any]]]:
        for key, objs in list(self._objects.items()):
            for obj in list(objs.values()):
                yield key, obj

    def by_uid(self) -> dict[str, tuple[tuple[str, str], dict[str, Any]]]:
        return {obj["metadata"]["uid"]: (key, obj) for key, obj in self.everything()}

    def next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def put(self, key: tuple[str, str], obj: dict[str, Any], write: Write) -> None:
        """Store `obj` (its resourceVersion already set by `next_rv`), log the event, record the write."""
        meta = obj["metadata"]
        ident = (meta.get("namespace") or "", meta["name"])
        old = self._objects.setdefault(key, {}).get(ident)
        self._objects[key][ident] = obj
        self._log(WatchEvent(int(meta["resourceVersion"]), "MODIFIED" if old else "ADDED", key, obj, old,
                             time.monotonic()), write)

    def remove(self, key: tuple[str, str], obj: dict[str, Any], write: Write) -> None:
        """Drop an object; its DELETED event carries `obj` (with a fresh resourceVersion)."""
        meta = obj["metadata"]
        old = self._objects.get(key, {}).pop((meta.get("namespace") or "", meta["name"]), None)
        self._log(WatchEvent(int(meta["resourceVersion"]), "DELETED", key, obj, old, time.monotonic()), write)

    def _log(self, event: WatchEvent, write: Write) -> None:
        self._events.append(event)
        if len(self._events) > self._max_events:
            cut = len(self._events) // 2
            self._compacted_rv = self._events[cut - 1].rv
            del self._events[:cut]
        self.history.append(write)
        self._changed.set()
        self._changed = asyncio.Event()
        for callback in list(self.on_write):
            try:
                callback(write.verb, write.object)
            except Exception:  # noqa: BLE001  # a test hook must not break the server; kept for the test
                self.write_errors.append(traceback.format_exc())

    def events_after(self, rv: int) -> list[WatchEvent]:
        start = bisect.bisect_right(self._events, rv, key=lambda e: e.rv)
        return self._events[start:]

    async def changed(self, timeout: float) -> None:
        """Return on the next write, or after `timeout` seconds."""
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except TimeoutError:
            pass

    def wake(self) -> None:
        """Wake every waiting watch (e.g. to let them see the server stopping)."""
        self._changed.set()
        self._changed = asyncio.Event()


def snapshot(obj: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(obj)

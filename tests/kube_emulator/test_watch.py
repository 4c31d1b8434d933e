"""Watches: resumable from a resourceVersion, 410 once compacted, selectors, bookmarks, delays, kubectl -w."""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kube_emulator import KubeEmulator
from kube_emulator.emulator import KUBECTL

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"


def configmap(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels}}


def watch(api: KubeEmulator, query: str, seconds: float = 0.5, path: str = CONFIGMAPS) -> list[tuple[float, dict]]:
    """The events of one watch request that the server ends after `seconds`, each with when it arrived."""
    url = f"{api.url}{path}?watch=true&timeoutSeconds={seconds}&{query}"
    events = []
    with urllib.request.urlopen(url, timeout=seconds + 10) as response:
        assert response.headers["Content-Type"] == "application/json"
        for line in response:
            events.append((time.monotonic(), json.loads(line)))
    return events


def summary(events: list[tuple[float, dict]]) -> list[tuple[str, str]]:
    return [(e["type"], e["object"]["metadata"].get("name", "")) for _, e in events]


def test_a_watch_resumes_right_after_a_resource_version(kube_api):
    api = kube_api
    api.create(configmap("a"))
    since = api.create(configmap("b"))["metadata"]["resourceVersion"]
    api.patch("ConfigMap", "a", {"data": {"x": "1"}})
    api.create(configmap("c"))
    api.delete("ConfigMap", "b")
    events = watch(api, f"resourceVersion={since}")
    assert summary(events) == [("MODIFIED", "a"), ("ADDED", "c"), ("DELETED", "b")]
    versions = [int(e["object"]["metadata"]["resourceVersion"]) for _, e in events]
    assert versions == sorted(versions) and versions[0] > int(since)
    assert summary(watch(api, "resourceVersion=0")) == [("ADDED", "a"), ("ADDED", "c")]  # the current state
    assert summary(watch(api, "")) == [("ADDED", "a"), ("ADDED", "c")]


def test_a_compacted_resource_version_is_gone(tmp_path):
    with KubeEmulator(workdir=tmp_path / "kube", watch_log_size=4) as api:
        first = api.create(configmap("c0"))["metadata"]["resourceVersion"]
        for n in range(1, 8):
            api.create(configmap(f"c{n}"))
        (only,) = watch(api, f"resourceVersion={first}")
        error = only[1]
        assert error["type"] == "ERROR"
        assert (error["object"]["code"], error["object"]["reason"]) == (410, "Expired")


def test_selectors_turn_changes_into_added_and_deleted(kube_api):
    api = kube_api
    since = api.create(configmap("x", tier="cpu"))["metadata"]["resourceVersion"]
    api.patch("ConfigMap", "x", {"metadata": {"labels": {"tier": "gpu"}}})
    api.patch("ConfigMap", "x", {"metadata": {"labels": {"owner": "me"}}})
    api.patch("ConfigMap", "x", {"metadata": {"labels": {"tier": "cpu"}}})
    api.create(configmap("y", tier="gpu"))
    assert summary(watch(api, f"resourceVersion={since}&labelSelector=tier%3Dgpu")) == [
        ("ADDED", "x"), ("MODIFIED", "x"), ("DELETED", "x"), ("ADDED", "y")]
    assert summary(watch(api, f"resourceVersion={since}&fieldSelector=metadata.name%3Dy")) == [("ADDED", "y")]


def test_initial_events_end_with_a_bookmark(kube_api):
    kube_api.create(configmap("a"))
    events = watch(kube_api, "sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true")
    assert [e["type"] for _, e in events] == ["ADDED", "BOOKMARK"]
    assert events[1][1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


def test_watch_events_can_be_delayed(kube_api):
    api = kube_api
    api.watch_delay_seconds = 0.5
    since = api.create(configmap("before"))["metadata"]["resourceVersion"]
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(watch, api, f"resourceVersion={since}", 1.5)
        time.sleep(0.2)
        written = time.monotonic()
        api.create(configmap("after"))
        (arrived, event), = future.result()
    assert event["object"]["metadata"]["name"] == "after"
    assert 0.45 <= arrived - written < 1.4
    api.watch_delay_seconds = 0
    assert api.watch_delay_seconds == 0


def test_kubectl_get_watch_prints_new_rows(kube_api):
    kube_api.create(configmap("first"))
    lines: list[str] = []
    with subprocess.Popen([KUBECTL, f"--kubeconfig={kube_api.kubeconfig}", "get", "configmaps", "--watch"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=kube_api.env) as proc:
        reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)
        reader.start()
        kube_api.wait_for(lambda: any("first" in line for line in lines), 10, "the first row")
        kube_api.create(configmap("second"))
        kube_api.wait_for(lambda: any("second" in line for line in lines), 10, "a row for the new object")
        proc.kill()
    assert lines[0].split() == ["NAME", "DATA", "AGE"]

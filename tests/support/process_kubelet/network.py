"""Cluster DNS and Service ports for pods that are processes on one machine.

Every pod is 127.0.0.1, so a Service's DNS names (`<svc>`, `<svc>.<ns>`, `<pod>.<svc>`,
`<x>.<svc>.<ns>.svc[.cluster.local]`) are rewritten to 127.0.0.1 where a pod's env or argv
names them; and since all pods share that address, each (Service, port) gets its own free
local port, the same for every pod: rank 0 listens on it and the others connect to it.

    ports = PortMap()
    network = Network("default", services, ports)
    env = network.rewrite_env({"MASTER_ADDR": "job-0.job.default.svc", "MASTER_PORT": "29500"})
    # {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "<local port of (job, 29500)>"}
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from process_kubelet.objects import Manifest, name_of

POD_IP = "127.0.0.1"
CLUSTER_SUFFIXES = (("svc", "cluster", "local"), ("svc",))
# a DNS name, with an optional port; group 1 the host, group 2 the port
HOST_PORT = re.compile(r"([a-z0-9](?:[-a-z0-9.]*[a-z0-9])?)(?::(\d+))?")
# within text: only fully qualified Service names (`.svc`), which cannot be mistaken for a path segment
QUALIFIED = re.compile(r"(?<![\w.-])([a-z0-9](?:[-a-z0-9.]*[a-z0-9])?\.svc(?:\.cluster\.local)?)(?::(\d+))?"
                       r"(?![\w-])")
URL_HOST = re.compile(r"(://|@)([a-z0-9](?:[-a-z0-9.]*[a-z0-9])?)(?::(\d+))?")


class PortMap:
    """One free local port per (namespace, Service, port), handed out on first use and kept."""

    def __init__(self) -> None:
        self._ports: dict[tuple[str, str, int], int] = {}
        self._lock = threading.Lock()

    def local_port(self, namespace: str, service: str, port: int) -> int:
        key = (namespace, service, port)
        with self._lock:
            if key not in self._ports:
                self._ports[key] = self._free_port()
            return self._ports[key]

    def _free_port(self) -> int:
        taken = set(self._ports.values())
        while True:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                probe.bind((POD_IP, 0))
                port = probe.getsockname()[1]
            if port not in taken:
                return port

    def assigned(self) -> dict[tuple[str, str, int], int]:
        with self._lock:
            return dict(self._ports)


def _service_ports(service: Mapping[str, Any]) -> set[int]:
    ports = set()
    for entry in (service.get("spec") or {}).get("ports") or []:
        ports.add(int(entry["port"]))
        if isinstance(entry.get("targetPort"), int):
            ports.add(entry["targetPort"])
    return ports


class Network:
    """The names and ports of the Services in `namespace`, as one pod about to start sees them."""

    def __init__(self, namespace: str, services: Iterable[Mapping[str, Any]], ports: PortMap) -> None:
        self.namespace = namespace
        self.services: dict[str, Manifest] = {name_of(service): dict(service) for service in services}
        self.ports = ports

    def service_of(self, host: str) -> str | None:
        """The Service of this namespace that DNS name `host` belongs to, if any."""
        parts = host.rstrip(".").split(".")
        for suffix in CLUSTER_SUFFIXES:
            if tuple(parts[-len(suffix):]) == suffix and len(parts) > len(suffix):
                parts = parts[:-len(suffix)]
                if parts[-1] != self.namespace:
                    return None
                parts = parts[:-1]
                break
        else:
            if len(parts) >= 2 and parts[-1] == self.namespace and parts[-2] in self.services:
                parts = parts[:-1]
        if 1 <= len(parts) <= 2 and parts[-1] in self.services:
            return parts[-1]
        return None

    def _port(self, service: str, port: int) -> int:
        if port in _service_ports(self.services[service]):
            return self.ports.local_port(self.namespace, service, port)
        return port

    def _host_port(self, host: str, port: str | None) -> tuple[str, str | None] | None:
        service = self.service_of(host)
        if service is None:
            return None
        return POD_IP, (str(self._port(service, int(port))) if port else None)

    def _whole(self, value: str) -> str | None:
        match = HOST_PORT.fullmatch(value)
        if match is None:
            return None
        found = self._host_port(match.group(1), match.group(2))
        if found is None:
            return None
        host, port = found
        return host if port is None else f"{host}:{port}"

    def rewrite(self, value: str) -> str:
        """`value` with the Service names in it replaced by 127.0.0.1 and their ports by local ones."""
        whole = self._whole(value)
        if whole is not None:
            return whole

        def replace(match: re.Match[str], host_group: int) -> str:
            found = self._host_port(match.group(host_group), match.group(host_group + 1))
            if found is None:
                return match.group(0)
            host, port = found
            prefix = match.group(1) if host_group == 2 else ""
            return prefix + host + (f":{port}" if port else "")

        value = URL_HOST.sub(lambda m: replace(m, 2), value)
        return QUALIFIED.sub(lambda m: replace(m, 1), value)

    def rewrite_arg(self, arg: str) -> str:
        """An argv item: like `rewrite`, also after `--flag=`."""
        if arg.startswith("-") and "=" in arg:
            flag, _, value = arg.partition("=")
            return f"{flag}={self.rewrite(value)}"
        return self.rewrite(arg)

    def referenced(self, values: Iterable[str]) -> list[str]:
        """The Services that `values` name, in order of first mention."""
        found: list[str] = []
        for value in values:
            candidates = [m.group(1) for m in QUALIFIED.finditer(value)]
            candidates += [m.group(2) for m in URL_HOST.finditer(value)]
            whole = HOST_PORT.fullmatch(value)
            if whole is not None:
                candidates.append(whole.group(1))
            for host in candidates:
                service = self.service_of(host)
                if service is not None and service not in found:
                    found.append(service)
        return found

    def rewrite_env(self, env: Mapping[str, str]) -> dict[str, str]:
        """Names rewritten in every value; a `*PORT*` variable holding a port of a Service that the
        environment names (MASTER_PORT beside MASTER_ADDR) becomes that Service's local port."""
        services = self.referenced(env.values())
        out = {}
        for key, value in env.items():
            if "PORT" in key.upper() and value.isdigit():
                owner = next((s for s in services if int(value) in _service_ports(self.services[s])), None)
                out[key] = str(self._port(owner, int(value))) if owner is not None else value
            else:
                out[key] = self.rewrite(value)
        return out

"""What a pod's container becomes as a local process, and the status the kubelet writes for it: pure.

    launch = plan_launch(pod, pod_dir, lookup=read_secret_or_configmap, network=network,
                         claim_root=root / "pvc", claim_dirs={}, shared_dirs={})
    subprocess.Popen(launch.argv, env={**os.environ, **launch.env}, cwd=launch.cwd)

`python` runs as this interpreter and `torchrun` as its `-m torch.distributed.run`. A process
cannot mount, so each volumeMount's mountPath is a local folder (emptyDir: per pod; a claim: a
folder per claim name; any volume can be pointed at a shared folder) and every env value and
argv item that starts with a mountPath is rewritten to it; Service names and ports likewise
(`network.Network`). Unresolvable configuration raises ContainerConfigError, which the kubelet
reports as the container's waiting reason (CreateContainerConfigError), retrying each pass.
"""

from __future__ import annotations

import base64
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from process_kubelet.network import POD_IP, Network
from process_kubelet.objects import Manifest, meta, name_of, uid_of

# (kind "Secret" | "ConfigMap", name) -> its data, decoded; None when it does not exist
Lookup = Callable[[str, str], Mapping[str, str] | None]

ENV_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")
FIELD_KEY = re.compile(r"metadata\.(labels|annotations)\['([^']+)'\]")
EXPANSION = re.compile(r"\$\$|\$\(([-._a-zA-Z][-._a-zA-Z0-9]*)\)")
EXECUTABLES: Mapping[str, list[str]] = {
    "python": [sys.executable], "python3": [sys.executable],
    "torchrun": [sys.executable, "-m", "torch.distributed.run"],
}


class ContainerConfigError(Exception):
    """The container cannot be configured yet (a missing Secret or key): kubelet's CreateContainerConfigError."""

    reason = "CreateContainerConfigError"


class ContainerCreateError(Exception):
    """The container cannot run as a process at all (no command, an unknown volume type)."""

    reason = "CreateContainerError"


@dataclass(frozen=True)
class Launch:
    argv: list[str]
    env: dict[str, str]  # the container's variables only; the kubelet adds them to its own environment
    cwd: Path
    mounts: dict[str, Path]  # mountPath -> local folder


def secret_data(secret: Mapping[str, Any]) -> dict[str, str]:
    """A Secret's data (base64 in the API) and stringData, as text."""
    data = {key: base64.b64decode(value).decode() for key, value in (secret.get("data") or {}).items()}
    return {**data, **(secret.get("stringData") or {})}


def configmap_data(configmap: Mapping[str, Any]) -> dict[str, str]:
    binary = {key: base64.b64decode(value).decode() for key, value in (configmap.get("binaryData") or {}).items()}
    return {**binary, **(configmap.get("data") or {})}


def field_value(pod: Mapping[str, Any], path: str) -> str:
    """A downward-API fieldRef of `pod` (status.podIP is 127.0.0.1, every pod's address here)."""
    keyed = FIELD_KEY.fullmatch(path)
    if keyed is not None:
        return str((meta(pod).get(keyed.group(1)) or {}).get(keyed.group(2), ""))
    simple = {"metadata.name": name_of(pod), "metadata.namespace": meta(pod).get("namespace", ""),
              "metadata.uid": uid_of(pod), "spec.nodeName": (pod.get("spec") or {}).get("nodeName", ""),
              "spec.serviceAccountName": (pod.get("spec") or {}).get("serviceAccountName", "default"),
              "status.podIP": POD_IP, "status.podIPs": POD_IP, "status.hostIP": POD_IP, "status.hostIPs": POD_IP}
    if path not in simple:
        raise ContainerConfigError(f"fieldRef {path!r} is not one the process kubelet knows; use metadata.name, "
                                   "metadata.namespace, metadata.labels['k'], metadata.annotations['k'] "
                                   "or status.podIP")
    return simple[path]


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' $(VAR) expansion: a defined VAR is replaced, an undefined one left as written, $$ is $."""
    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))
    return EXPANSION.sub(one, text)


def _keyed(kind: str, ref: Mapping[str, Any], namespace: str, lookup: Lookup) -> str | None:
    data = lookup(kind, ref["name"])
    optional = bool(ref.get("optional"))
    if data is None:
        if optional:
            return None
        raise ContainerConfigError(f'{kind.lower()} "{ref["name"]}" not found')
    if ref["key"] not in data:
        if optional:
            return None
        raise ContainerConfigError(f"couldn't find key {ref['key']} in {kind} {namespace}/{ref['name']}")
    return data[ref["key"]]


def _env_from(container: Mapping[str, Any], lookup: Lookup) -> dict[str, str]:
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        kind, ref = ("Secret", source["secretRef"]) if "secretRef" in source else ("ConfigMap", source["configMapRef"])
        data = lookup(kind, ref["name"])
        if data is None:
            if ref.get("optional"):
                continue
            raise ContainerConfigError(f'{kind.lower()} "{ref["name"]}" not found')
        prefix = source.get("prefix", "")
        env.update({prefix + key: value for key, value in data.items() if ENV_NAME.fullmatch(prefix + key)})
    return env


def container_env(pod: Mapping[str, Any], container: Mapping[str, Any], lookup: Lookup) -> dict[str, str]:
    """envFrom, then env in order (a later entry wins), with valueFrom resolved and $(VAR) expanded."""
    namespace = meta(pod).get("namespace", "")
    env = _env_from(container, lookup)
    for entry in container.get("env") or []:
        source = entry.get("valueFrom")
        if source is None:
            env[entry["name"]] = expand(str(entry.get("value", "")), env)
        elif "fieldRef" in source:
            env[entry["name"]] = field_value(pod, source["fieldRef"]["fieldPath"])
        elif "secretKeyRef" in source or "configMapKeyRef" in source:
            kind = "Secret" if "secretKeyRef" in source else "ConfigMap"
            value = _keyed(kind, source["secretKeyRef" if kind == "Secret" else "configMapKeyRef"], namespace, lookup)
            if value is not None:
                env[entry["name"]] = value
        else:
            raise ContainerConfigError(f"env {entry['name']}: valueFrom {sorted(source)} is not supported by the "
                                       "process kubelet (fieldRef, secretKeyRef and configMapKeyRef are)")
    return env


def pod_dir_name(pod: Mapping[str, Any]) -> str:
    return f"{meta(pod).get('namespace', 'default')}_{name_of(pod)}_{uid_of(pod)[:8]}"


def _write_files(folder: Path, data: Mapping[str, str], items: list[Manifest] | None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    chosen = {item["key"]: item["path"] for item in items} if items else {key: key for key in data}
    for key, relative in chosen.items():
        if key in data:
            target = folder / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(data[key])


def volume_dirs(pod: Mapping[str, Any], pod_dir: Path, *, claim_root: Path, claim_dirs: Mapping[str, Path],
                shared_dirs: Mapping[str, Path], lookup: Lookup) -> dict[str, Path]:
    """Each volume of `pod` as a local folder (created; Secret and ConfigMap volumes filled with their keys).

    A claim is `claim_dirs[claimName]`, else `claim_root/claimName`; `shared_dirs` (volume name ->
    folder) wins over the volume's type, e.g. to share a cache between pods.
    """
    out: dict[str, Path] = {}
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        name = volume["name"]
        if name in shared_dirs:
            folder = Path(shared_dirs[name])
        elif "emptyDir" in volume:
            folder = pod_dir / "volumes" / name
        elif "persistentVolumeClaim" in volume:
            claim = volume["persistentVolumeClaim"]["claimName"]
            folder = Path(claim_dirs[claim]) if claim in claim_dirs else claim_root / claim
        elif "hostPath" in volume:
            folder = Path(volume["hostPath"]["path"])
        elif "secret" in volume or "configMap" in volume:
            kind, ref = ("Secret", volume["secret"]) if "secret" in volume else ("ConfigMap", volume["configMap"])
            source_name = ref.get("secretName") or ref.get("name")
            data = lookup(kind, source_name)
            if data is None and not ref.get("optional"):
                raise ContainerConfigError(f'{kind.lower()} "{source_name}" not found')
            folder = pod_dir / "volumes" / name
            _write_files(folder, data or {}, ref.get("items"))
        else:
            kinds = sorted(set(volume) - {"name"})
            raise ContainerCreateError(f"volume {name}: type {kinds} is not supported by the process kubelet; "
                                       "use emptyDir, persistentVolumeClaim, hostPath, secret or configMap, "
                                       "or map the volume to a folder with shared_dirs")
        folder.mkdir(parents=True, exist_ok=True)
        out[name] = folder
    return out


def mount_map(container: Mapping[str, Any], volumes: Mapping[str, Path]) -> dict[str, Path]:
    """mountPath -> local folder for each of the container's volumeMounts (subPath honoured)."""
    mounts: dict[str, Path] = {}
    for mount in container.get("volumeMounts") or []:
        if mount["name"] not in volumes:
            raise ContainerCreateError(f"volumeMount {mount['mountPath']}: the pod has no volume {mount['name']!r}")
        folder = volumes[mount["name"]] / mount["subPath"] if mount.get("subPath") else volumes[mount["name"]]
        folder.mkdir(parents=True, exist_ok=True)
        mounts[mount["mountPath"].rstrip("/") or "/"] = folder
    return mounts


def rewrite_path(value: str, mounts: Mapping[str, Path]) -> str:
    """`value` with a leading mountPath replaced by its folder; also after `--flag=` and in `a:b` path lists."""
    if value.startswith("-") and "=" in value:
        flag, _, rest = value.partition("=")
        return f"{flag}={rewrite_path(rest, mounts)}"
    if ":" in value and value.startswith("/"):
        return ":".join(_rewrite_one(part, mounts) for part in value.split(":"))
    return _rewrite_one(value, mounts)


def _rewrite_one(value: str, mounts: Mapping[str, Path]) -> str:
    for mount_path in sorted(mounts, key=len, reverse=True):  # the deepest mount wins
        if value == mount_path or value.startswith(mount_path + "/"):
            return str(mounts[mount_path]) + value[len(mount_path):]
    return value


def executable(argv: list[str]) -> list[str]:
    """argv with `python`/`torchrun` as this interpreter (the pod's image is this environment)."""
    if not argv:
        raise ContainerCreateError("the container has no command: the process kubelet cannot know an image's "
                                   "entrypoint; give the container a command")
    return [*EXECUTABLES.get(argv[0], [argv[0]]), *argv[1:]]


def plan_launch(pod: Mapping[str, Any], pod_dir: Path, *, lookup: Lookup, network: Network, claim_root: Path,
                claim_dirs: Mapping[str, Path], shared_dirs: Mapping[str, Path]) -> Launch:
    """The process that runs `pod`'s (first) container."""
    spec = pod.get("spec") or {}
    container = spec["containers"][0]
    env = container_env(pod, container, lookup)
    volumes = volume_dirs(pod, pod_dir, claim_root=claim_root, claim_dirs=claim_dirs, shared_dirs=shared_dirs,
                          lookup=lookup)
    mounts = mount_map(container, volumes)
    env = {key: rewrite_path(value, mounts) for key, value in network.rewrite_env(env).items()}
    hostname = spec.get("hostname") or name_of(pod)
    env = {"HOSTNAME": hostname, **env}
    argv = [expand(item, env) for item in [*(container.get("command") or []), *(container.get("args") or [])]]
    argv = executable([rewrite_path(network.rewrite_arg(item), mounts) for item in argv])
    cwd = Path(rewrite_path(container["workingDir"], mounts)) if container.get("workingDir") else pod_dir / "cwd"
    cwd.mkdir(parents=True, exist_ok=True)
    return Launch(argv=argv, env=env, cwd=cwd, mounts=mounts)


def pod_conditions(at: str, *, ready: bool, reason: str | None = None) -> list[Manifest]:
    """The conditions the kubelet keeps on a bound pod (DisruptionTarget and the like are added by others)."""
    def condition(kind: str, status: bool, why: str | None = None) -> Manifest:
        entry: Manifest = {"type": kind, "status": "True" if status else "False", "lastProbeTime": None,
                           "lastTransitionTime": at}
        if why:
            entry["reason"] = why
        return entry
    return [condition("PodReadyToStartContainers", True), condition("Initialized", True),
            condition("Ready", ready, reason), condition("ContainersReady", ready, reason),
            condition("PodScheduled", True)]


def container_status(container: Mapping[str, Any], state: Manifest, *, restarts: int = 0,
                     last_state: Manifest | None = None, container_id: str | None = None) -> Manifest:
    running = "running" in state
    status: Manifest = {"name": container["name"], "image": container.get("image", ""), "imageID": "",
                        "ready": running, "started": running, "restartCount": restarts, "state": state,
                        "lastState": last_state or {}}
    if container_id:
        status["containerID"] = container_id
    return status


def terminated(exit_code: int, started_at: str, finished_at: str, container_id: str | None = None) -> Manifest:
    """state.terminated as the kubelet reports it (a signal shows as 128 + its number, reason Error)."""
    state: Manifest = {"exitCode": exit_code, "reason": "Completed" if exit_code == 0 else "Error",
                       "startedAt": started_at, "finishedAt": finished_at}
    if container_id:
        state["containerID"] = container_id
    return {"terminated": state}


def phase_after(exit_code: int) -> str:
    return "Succeeded" if exit_code == 0 else "Failed"


def should_restart(restart_policy: str, exit_code: int) -> bool:
    """Whether the kubelet starts the container again in the same pod."""
    return restart_policy == "Always" or (restart_policy == "OnFailure" and exit_code != 0)

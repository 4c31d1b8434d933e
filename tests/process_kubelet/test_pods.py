"""A pod as a process, without a server: env resolution, volumes as folders, Service names and ports rewritten."""

from __future__ import annotations

import base64
import sys
from pathlib import Path

import pytest
import yaml

from process_kubelet.jobs import build_pod
from process_kubelet.network import Network, PortMap
from process_kubelet.pods import (
    ContainerConfigError,
    ContainerCreateError,
    container_env,
    expand,
    plan_launch,
    rewrite_path,
    secret_data,
)

GOLDEN = Path(__file__).parents[1] / "operator" / "golden"
SECRETS = {("Secret", "store"): {"AWS_KEY": "k1", "bad key": "skipped"}, ("ConfigMap", "settings"): {"level": "3"}}


def lookup(kind: str, name: str) -> dict[str, str] | None:
    return SECRETS.get((kind, name))


def pod(container: dict, volumes: list[dict] | None = None, **spec) -> dict:
    return {"metadata": {"name": "p-1", "namespace": "ns", "uid": "0123456789",
                         "labels": {"app": "demo"}, "annotations": {"batch.kubernetes.io/job-completion-index": "1"}},
            "spec": {"containers": [{"name": "main", **container}], "volumes": volumes or [], **spec}}


def service(name: str, port: int) -> dict:
    return {"metadata": {"name": name, "namespace": "ns"},
            "spec": {"clusterIP": "None", "ports": [{"port": port, "targetPort": port}]}}


def test_env_values_field_refs_secrets_and_config_maps_resolve_in_order():
    container = {"envFrom": [{"secretRef": {"name": "store"}, "prefix": "S_"}], "env": [
        {"name": "A", "value": "one"},
        {"name": "B", "value": "$(A)-two-$(UNSET)-$$(A)"},
        {"name": "NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "RANK", "valueFrom": {"fieldRef": {
            "fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"}}},
        {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
        {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "KEY", "valueFrom": {"secretKeyRef": {"name": "store", "key": "AWS_KEY"}}},
        {"name": "LEVEL", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "level"}}},
        {"name": "GONE", "valueFrom": {"secretKeyRef": {"name": "absent", "key": "x", "optional": True}}},
        {"name": "A", "value": "last wins"},
    ]}
    env = container_env(pod(container), container, lookup)
    assert env == {"S_AWS_KEY": "k1", "A": "last wins", "B": "one-two-$(UNSET)-$(A)", "NAME": "p-1", "NS": "ns",
                   "RANK": "1", "APP": "demo", "IP": "127.0.0.1", "KEY": "k1", "LEVEL": "3"}


@pytest.mark.parametrize(("container", "message"), [
    ({"envFrom": [{"secretRef": {"name": "absent"}}]}, 'secret "absent" not found'),
    ({"env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "absent", "key": "k"}}}]},
     'secret "absent" not found'),
    ({"env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "store", "key": "nope"}}}]},
     "couldn't find key nope in Secret ns/store"),
    ({"env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "absent", "key": "k"}}}]},
     'configmap "absent" not found'),
])
def test_missing_secrets_and_keys_are_container_config_errors(container, message):
    with pytest.raises(ContainerConfigError, match=message) as caught:
        container_env(pod(container), container, lookup)
    assert caught.value.reason == "CreateContainerConfigError"


def test_secret_data_is_decoded():
    assert secret_data({"data": {"k": base64.b64encode(b"v").decode()}, "stringData": {"s": "t"}}) == {"k": "v",
                                                                                                       "s": "t"}


def test_expand_leaves_unknown_references():
    assert expand("$(A)/$(B)/$$", {"A": "x"}) == "x/$(B)/$"


@pytest.mark.parametrize(("value", "expected"), [
    ("/tmp", "/L/tmp"), ("/tmp/x/y", "/L/tmp/x/y"), ("/tmpfile", "/tmpfile"), ("--out=/tmp/o", "--out=/L/tmp/o"),
    ("/var/cache/genesys/huggingface/hub", "/L/hf/hub"), ("/var/cache/genesys/x", "/L/cache/x"),
    ("/tmp/a:/var/cache/genesys", "/L/tmp/a:/L/cache"), ("s3://bucket/tmp/x", "s3://bucket/tmp/x"), ("tmp", "tmp"),
])
def test_paths_under_a_mount_are_rewritten_deepest_mount_first(value, expected):
    mounts = {"/tmp": Path("/L/tmp"), "/var/cache/genesys": Path("/L/cache"),
              "/var/cache/genesys/huggingface": Path("/L/hf")}
    assert rewrite_path(value, mounts) == expected


def test_volumes_are_folders_and_env_and_argv_follow_them(tmp_path):
    shared = tmp_path / "shared-cache"
    claims = {"data": tmp_path / "datasets"}
    volumes = [{"name": "tmp", "emptyDir": {}}, {"name": "cache", "emptyDir": {}},
               {"name": "store", "persistentVolumeClaim": {"claimName": "runs"}},
               {"name": "data", "persistentVolumeClaim": {"claimName": "data"}},
               {"name": "conf", "secret": {"secretName": "store", "items": [{"key": "AWS_KEY", "path": "key.txt"}]}}]
    container = {"command": ["python", "-c", "pass", "--out", "/runs/r1", "--data=/data/x"], "workingDir": "/tmp/w",
                 "env": [{"name": "HOME", "value": "/tmp"}, {"name": "CACHE", "value": "/cache/hub"}],
                 "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}, {"name": "cache", "mountPath": "/cache"},
                                  {"name": "store", "mountPath": "/runs"}, {"name": "data", "mountPath": "/data",
                                                                            "subPath": "v1"},
                                  {"name": "conf", "mountPath": "/etc/conf"}]}
    launch = plan_launch(pod(container, volumes), tmp_path / "pod", lookup=lookup,
                         network=Network("ns", [], PortMap()), claim_root=tmp_path / "pvc", claim_dirs=claims,
                         shared_dirs={"cache": shared})
    pod_tmp = tmp_path / "pod" / "volumes" / "tmp"
    assert launch.argv == [sys.executable, "-c", "pass", "--out", str(tmp_path / "pvc" / "runs" / "r1"),
                           f"--data={tmp_path / 'datasets' / 'v1' / 'x'}"]
    assert launch.env["HOME"] == str(pod_tmp) and launch.env["CACHE"] == str(shared / "hub")
    assert launch.env["HOSTNAME"] == "p-1"
    assert launch.cwd == pod_tmp / "w" and launch.cwd.is_dir()
    assert (launch.mounts["/etc/conf"] / "key.txt").read_text() == "k1"
    assert all(folder.is_dir() for folder in launch.mounts.values())


def test_a_container_without_command_or_with_an_unknown_volume_cannot_run(tmp_path):
    network = Network("ns", [], PortMap())
    kwargs = {"lookup": lookup, "network": network, "claim_root": tmp_path, "claim_dirs": {}, "shared_dirs": {}}
    with pytest.raises(ContainerCreateError, match="give the container a command"):
        plan_launch(pod({"image": "x"}), tmp_path, **kwargs)
    with pytest.raises(ContainerCreateError, match="nfs"):
        plan_launch(pod({"command": ["true"]}, [{"name": "n", "nfs": {"server": "s"}}]), tmp_path, **kwargs)


def test_torchrun_is_this_interpreters_torch_distributed_run(tmp_path):
    launch = plan_launch(pod({"command": ["torchrun", "--nnodes", "1"], "args": ["train.py"]}), tmp_path,
                         lookup=lookup, network=Network("ns", [], PortMap()), claim_root=tmp_path, claim_dirs={},
                         shared_dirs={})
    assert launch.argv == [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "train.py"]


@pytest.mark.parametrize(("value", "expected"), [
    ("train-0.train.ns.svc", "127.0.0.1"), ("train-0.train.ns.svc.cluster.local", "127.0.0.1"),
    ("train.ns.svc:29500", "127.0.0.1:{port}"), ("train", "127.0.0.1"), ("train-1.train", "127.0.0.1"),
    ("train.ns", "127.0.0.1"), ("tcp://train-0.train:29500/x", "tcp://127.0.0.1:{port}/x"),
    ("train:1234", "127.0.0.1:1234"),  # not a port of the Service: left alone
    ("a,train-0.train.ns.svc:29500,b", "a,127.0.0.1:{port},b"),
    ("/data/train/x", "/data/train/x"), ("train-0.train.other.svc", "train-0.train.other.svc"),
    ("trainer", "trainer"), ("x.y.train", "x.y.train"),
])
def test_service_names_resolve_to_localhost_and_their_ports_to_local_ones(value, expected):
    network = Network("ns", [service("train", 29500)], PortMap())
    port = network.ports.local_port("ns", "train", 29500)
    assert network.rewrite(value) == expected.format(port=port)


def test_a_services_port_is_the_same_local_port_for_every_pod():
    ports = PortMap()
    services = [service("a", 29500), service("b", 29500)]
    first = Network("ns", services, ports).rewrite_env({"MASTER_ADDR": "a-0.a.ns.svc", "MASTER_PORT": "29500",
                                                        "OTHER_PORT": "8080", "COUNT": "29500"})
    second = Network("ns", services, ports).rewrite_env({"MASTER_ADDR": "a", "MASTER_PORT": "29500"})
    third = Network("ns", services, ports).rewrite_env({"MASTER_ADDR": "b", "MASTER_PORT": "29500"})
    assert first["MASTER_ADDR"] == second["MASTER_ADDR"] == "127.0.0.1"
    assert first["MASTER_PORT"] == second["MASTER_PORT"] != "29500"
    assert third["MASTER_PORT"] not in ("29500", first["MASTER_PORT"])  # another Service, another port
    assert first["OTHER_PORT"] == "8080" and first["COUNT"] == "29500"  # not a port of a named Service


def test_the_indexed_training_pod_of_the_operator_rendezvouses_on_localhost(tmp_path):
    docs = list(yaml.safe_load_all((GOLDEN / "indexed_job.yaml").read_text()))
    job = next(doc for doc in docs if doc["kind"] == "Job")
    job["metadata"]["uid"] = "uid-train"
    rendezvous = next(doc for doc in docs if doc["kind"] == "Service")
    name, namespace = job["metadata"]["name"], job["metadata"]["namespace"]
    built = build_pod(job, 1, "abcde")
    built["metadata"]["uid"] = "uid-pod"
    ports = PortMap()
    launch = plan_launch(built, tmp_path / "pod", lookup=lambda kind, n: {"AWS_ACCESS_KEY_ID": "a"},
                         network=Network(namespace, [rendezvous], ports), claim_root=tmp_path, claim_dirs={},
                         shared_dirs={})
    local = str(ports.local_port(namespace, name, 29500))
    env = launch.env
    assert env["PET_MASTER_ADDR"] == env["MASTER_ADDR"] == "127.0.0.1"
    assert env["PET_MASTER_PORT"] == env["MASTER_PORT"] == local
    assert env["PET_NODE_RANK"] == env["JOB_COMPLETION_INDEX"] == "1" and env["PET_NNODES"] == "2"
    assert env["HOSTNAME"] == f"{name}-1" and env["AWS_ACCESS_KEY_ID"] == "a"
    assert env["HOME"] == str(tmp_path / "pod" / "volumes" / "tmp")
    assert env["HF_HOME"] == str(tmp_path / "pod" / "volumes" / "cache" / "huggingface")
    assert launch.argv[:3] == [sys.executable, "-m", "torch.distributed.run"]

"""The artifact store on S3: a moto server on 127.0.0.1 stands in for the object store.

Every process reaches it as it would reach AWS: s3fs (botocore) reads AWS_ENDPOINT_URL and
the AWS_* credentials from the environment, and children inherit them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from genesys.api import storage
from genesys.api.artifact_store import ArtifactStore
from genesys.api.evolution import DesignerSpec
from genesys.api.seed_library import load_seed
from genesys.cli.main import app
from quick_runs import designs_json, records, run_quick

s3fs = pytest.importorskip("s3fs", reason="the s3 extra is not installed: pip install '.[s3]'")
moto_server = pytest.importorskip("moto.server", reason="moto[server] is not installed: pip install '.[dev]'")

BUCKET = "genesys-test"


@pytest.fixture(scope="module")
def s3_env() -> Iterator[dict[str, str]]:
    """A moto S3 server with one bucket, and the environment that points s3fs at it (set here too)."""
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ENDPOINT_URL": f"http://{host}:{port}", "AWS_EC2_METADATA_DISABLED": "true"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    s3fs.S3FileSystem.clear_instance_cache()  # an instance made before this fixture would not see its endpoint
    try:
        s3fs.S3FileSystem().mkdir(BUCKET)
        yield {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", **env}
    finally:
        s3fs.S3FileSystem.clear_instance_cache()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        server.stop()


def test_a_design_session_reads_its_job_and_parents_and_writes_its_files_in_s3(s3_env, tmp_path):
    store = ArtifactStore(f"s3://{BUCKET}/session-test", "demo")
    for name in ("gpt2", "mamba2"):
        store.write_design(load_seed(name))
    job = store.write_session_job("n1", "mutation", ("gpt2",), 3, DesignerSpec(max_attempts=2), attempt=1)
    out = store.design_dir("n1")
    env = {**s3_env, storage.WORK_DIR_ENV: str(tmp_path / "work")}
    done = subprocess.run([sys.executable, "-m", "genesys.agents.session", "--job", job, "--out", out],
                          capture_output=True, text=True, env=env, timeout=600)
    outcome = store.read_session("n1")
    assert done.returncode == (0 if outcome.status == "succeeded" else 1), done.stderr
    assert outcome.design == "n1" and outcome.checked >= 1
    assert store.read_check("n1").design == "n1"
    assert (store.read_design("n1") is not None) == (outcome.status == "succeeded")
    events = [json.loads(line) for line in storage.read_text(f"{out}/session.jsonl").splitlines()]
    assert events[0]["event"] == "start" and events[-1]["event"] == "outcome"
    local = tmp_path / "work" / "s3" / BUCKET / "session-test" / "demo" / "designs" / "n1" / "session.jsonl"
    assert local.read_text() == storage.read_text(f"{out}/session.jsonl")  # the fsynced copy it appended to


@pytest.mark.slow
def test_the_quick_evolution_on_s3_matches_the_same_run_on_a_local_store(s3_env, quick_run, tmp_path):
    """Same spec and seed: the same designs from the same parents, bit-identical fitness at every rung,
    the same verifications and budget use, whichever the store (and whatever order children finished in,
    or thread shares they got: outcomes are recorded in start order and the math ignores threads)."""
    store = f"s3://{BUCKET}/runs"
    on_s3, local = tmp_path / "s3", quick_run
    run_quick(on_s3, "--store", store, env=s3_env)
    assert designs_json(on_s3) == designs_json(local)
    assert records(on_s3) == records(local)
    assert records(on_s3)["used"] == {"cpu-1": 4, "cpu-2": 1}

    assert not (on_s3 / "artifacts").exists()  # everything went to the bucket
    artifacts = ArtifactStore(store, "quick")
    names = storage.children_with(artifacts.layout.designs_dir(), "design.yaml")
    assert names == storage.children_with(f"{local}/artifacts/quick/designs", "design.yaml") and len(names) == 4
    verifications = storage.children_with(f"{store}/quick/verifications", "result.json")
    assert len(verifications) == 5
    for name in verifications:
        remote = artifacts.verification_dir(name)
        assert artifacts.read_verification(name).status == "succeeded"
        # uploaded from the local work dir before result.json; the checkpoints stay there
        trained = json.loads(storage.read_text(f"{remote}/train.json"))
        assert trained["steps"] == json.loads((local / "artifacts" / "quick" / "verifications" / name /
                                               "train.json").read_text())["steps"]
        assert '"step"' in storage.read_text(f"{remote}/metrics.jsonl")
        assert (on_s3 / "work" / "s3" / BUCKET / "runs" / "quick" / "verifications" / name / "checkpoints").is_dir()
    discovered = [d["name"] for d in designs_json(on_s3) if d["operation"] != "seed"]
    shown = CliRunner().invoke(app, ["show", discovered[0], "--run-dir", str(on_s3)], terminal_width=200)
    assert shown.exit_code == 0 and "tree" in shown.output and "check" in shown.output, shown.output

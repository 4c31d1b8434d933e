"""genesys.api.storage: the artifact store's I/O on a local directory and on an fsspec store (memory://)."""

from __future__ import annotations

import contextlib
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import fsspec
import pytest

from genesys.api import Design, ManifestError, dump_manifest, storage
from genesys.api.seed_library import load_seed


@pytest.fixture(params=["local", "file", "memory"])
def root(request, tmp_path) -> Iterator[str]:
    """A store root in each form: a path, a file:// URL, and memory:// (an object store in this process)."""
    if request.param == "local":
        yield str(tmp_path / "store")
    elif request.param == "file":
        yield f"file://{tmp_path}/store"
    else:
        url = f"memory://store-{uuid.uuid4().hex}"
        yield url
        with contextlib.suppress(FileNotFoundError):
            fsspec.filesystem("memory").rm(url, recursive=True)


def test_read_write_exists_remove(root):
    url = storage.join(root, "evo", "designs", "d1", "design.yaml")
    assert not storage.exists(url)
    with pytest.raises(FileNotFoundError):
        storage.read_text(url)
    storage.write_text(url, "first\n")  # creates what it needs on the way
    storage.write_text(url, "second: é\n")
    assert storage.exists(url) and storage.read_text(url) == "second: é\n"
    storage.remove(url)
    storage.remove(url)  # nothing there: nothing to do
    assert not storage.exists(url)


def test_children_with_lists_the_directories_holding_a_file(root):
    designs = storage.join(root, "evo", "designs")
    assert storage.children_with(designs, "design.yaml") == []  # no such directory yet
    for name in ("b", "a", ".hidden"):
        storage.write_text(storage.join(designs, name, "design.yaml"), "x")
    storage.write_text(storage.join(designs, "c", "job.yaml"), "x")  # a session still running
    assert storage.children_with(designs, "design.yaml") == ["a", "b"]


def test_manifests_read_through_the_store_fail_as_load_manifest_does(root):
    url = storage.join(root, "gpt2.yaml")
    with pytest.raises(ManifestError, match="gpt2.yaml: no such file"):
        storage.read_manifest(url, Design)
    storage.write_text(url, dump_manifest(load_seed("gpt2")))
    assert storage.read_manifest(url, Design) == load_seed("gpt2")
    storage.write_bytes(url, b"\xff\xfe")
    with pytest.raises(ManifestError, match="cannot read it as a UTF-8 text file"):
        storage.read_manifest(url, Design)


def test_a_local_path_and_its_file_url_are_the_same_place(tmp_path):
    storage.write_text(f"file://{tmp_path}/a/b.txt", "x")
    assert (tmp_path / "a" / "b.txt").read_text() == "x"
    assert storage.is_local(str(tmp_path)) and storage.is_local(f"file://{tmp_path}")
    assert not storage.is_local("s3://bucket/x") and storage.protocol("S3://bucket") == "s3"


def test_an_interrupted_local_write_leaves_the_old_file_and_no_temp_file(tmp_path, monkeypatch):
    url = str(tmp_path / "result.json")
    storage.write_text(url, "old")

    def crash(fd):
        raise OSError("disk gone")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError, match="disk gone"):
        storage.write_text(url, "new")
    assert storage.read_text(url) == "old" and os.listdir(tmp_path) == ["result.json"]


@pytest.mark.parametrize("one_upload", [True, False], ids=["object-store", "temp-and-move"])
def test_readers_never_see_part_of_an_object(one_upload, monkeypatch):
    """While a writer replaces a large object again and again, a reader sees nothing or a whole one.

    Object stores get one upload; other remote filesystems a temporary name and a move
    (memory:// stands in for both).
    """
    if not one_upload:
        monkeypatch.setattr(storage, "OBJECT_STORES", storage.OBJECT_STORES - {"memory"})
    root = f"memory://atomic-{uuid.uuid4().hex}"
    url = storage.join(root, "result.json")
    versions = {("%d" % i) * 200_000 for i in range(10)}
    seen: set[str] = set()
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            try:
                seen.add(storage.read_text(url))
            except FileNotFoundError:
                pass

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for text in sorted(versions):
            storage.write_text(url, text)
    finally:
        done.set()
        reader.join()
    assert seen <= versions and storage.read_text(url) == max(versions)
    assert storage.children_with(root, "result.json") == []  # and nothing else was left behind
    assert fsspec.filesystem("memory").ls(root.removeprefix("memory://"), detail=False) == [
        f"/{root.removeprefix('memory://')}/result.json"]
    fsspec.filesystem("memory").rm(root, recursive=True)


@pytest.mark.parametrize(("url", "extra"), [("s3://bucket/runs", "s3"), ("gs://bucket/runs", "gcs")])
def test_a_protocol_without_its_driver_names_the_extra_to_install(url, extra, monkeypatch):
    def missing(*args, **kwargs):
        raise ImportError("Please install the driver")

    monkeypatch.setattr(fsspec.core, "url_to_fs", missing)
    with pytest.raises(storage.StoreError, match=rf"no driver installed: pip install 'genesys-lm\[{extra}\]'"):
        storage.check(url)


def test_gs_without_gcsfs_names_the_gcs_extra():
    try:
        import gcsfs  # noqa: F401
    except ImportError:
        with pytest.raises(storage.StoreError, match=r"gs:// has no driver installed: pip install 'genesys-lm\[gcs\]'"):
            storage.read_text("gs://bucket/runs/x.json")
    else:
        pytest.skip("gcsfs is installed here")


def test_an_unknown_protocol_is_refused_with_the_protocols_that_work():
    with pytest.raises(storage.StoreError, match="unknown store protocol nope://; give a local path, file://, s3://"):
        storage.read_text("nope://bucket/x")


def test_a_remote_output_gets_a_stable_local_work_dir(tmp_path, monkeypatch):
    assert storage.work_dir(str(tmp_path / "out")) == tmp_path / "out"  # local: the output dir itself
    assert storage.work_dir(f"file://{tmp_path}/out") == tmp_path / "out"
    monkeypatch.setenv(storage.WORK_DIR_ENV, str(tmp_path / "work"))
    work = storage.work_dir("s3://bucket/runs/evo/verifications/v1")
    assert work == tmp_path / "work" / "s3" / "bucket" / "runs" / "evo" / "verifications" / "v1"
    assert storage.work_dir("s3://bucket/../../etc") == tmp_path / "work" / "s3" / "bucket" / "etc"
    monkeypatch.delenv(storage.WORK_DIR_ENV)
    assert storage.work_dir("s3://bucket/v1").parts[-3:] == ("s3", "bucket", "v1")


def test_upload_copies_a_local_file_into_the_store(tmp_path):
    local = tmp_path / "metrics.jsonl"
    local.write_text('{"step": 1}\n')
    url = f"memory://upload-{uuid.uuid4().hex}/v1/metrics.jsonl"
    storage.upload(local, url)
    assert storage.read_text(url) == '{"step": 1}\n'
    storage.upload(local, str(local))  # the file itself: nothing to copy
    assert Path(local).read_text() == '{"step": 1}\n'

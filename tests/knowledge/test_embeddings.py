"""The shipped embeddings belong to this library and this model; drift is detected and named."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from genesys.knowledge import build, embed
from genesys.knowledge.papers import load_library, parse_library


def test_shipped_embeddings_match_the_model_and_the_library():
    library = load_library()
    assert build.drift(library, embed.model_hash()) == []
    meta = build.read_meta()
    assert meta["model_sha256"] == embed.model_hash()
    assert meta["library_sha256"] == library.content_hash()
    vectors = build.load_embeddings(library, check_model=True)
    assert vectors.shape == (len(library), embed.DIM)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=2e-3)
    assert build.main(["--check"]) == 0


def test_shipped_vectors_are_what_the_model_computes(embedder):
    library = load_library()
    vectors = build.load_embeddings(library)
    for row in (0, len(library) // 2, len(library) - 1):
        fresh = embedder(library.papers[row].embedding_text())
        assert float(fresh @ vectors[row]) > 0.999, library.papers[row].id


def test_a_library_edit_is_detected(tmp_path, capsys):
    library = load_library()
    text = build.META_FILE.parent.joinpath("papers.yaml").read_text(encoding="utf-8")
    edited = parse_library(text.replace("Builds a sequence model entirely", "Builds a language model entirely"))
    assert edited.content_hash() != library.content_hash()
    assert any("the library changed" in p for p in build.drift(edited))
    with pytest.raises(build.StaleEmbeddings, match="python -m genesys.knowledge.build"):
        build.load_embeddings(edited)


def test_a_model_change_is_detected(tmp_path):
    library = load_library()
    meta = json.loads(build.META_FILE.read_text())
    meta["model_sha256"] = "0" * 64
    stale = tmp_path / "embeddings.json"
    stale.write_text(json.dumps(meta))
    assert build.drift(library, embed.model_hash(), stale) == [
        f"the embedding model changed (hash {embed.model_hash()[:12]}, embeddings were made with 000000000000)"]
    # the model hash covers the weights: a changed byte in any model file changes it
    copy = tmp_path / "model"
    shutil.copytree(embed.model_dir(), copy)
    config = copy / "config.json"
    config.write_text(config.read_text() + " ")
    assert embed.model_hash(copy) != embed.model_hash()


def test_missing_metadata_says_how_to_rebuild(tmp_path):
    with pytest.raises(build.StaleEmbeddings, match="no embeddings metadata"):
        build.load_embeddings(load_library(), meta_path=tmp_path / "absent.json")

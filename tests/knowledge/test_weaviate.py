"""The Weaviate backend against a fake client (always), and against a real server when WEAVIATE_URL is set."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from weaviate.util import generate_uuid5

from genesys.knowledge import KnowledgeBase, load_library
from genesys.knowledge.build import load_embeddings
from genesys.knowledge.index import HybridIndex
from genesys.knowledge.search import LocalBackend, weaviate_url
from genesys.knowledge.weaviate_backend import TEXT_PROPERTY, WeaviateBackend, collection_name, parse_url

# --- A stand-in for weaviate-client v4's synchronous client, implementing only what WeaviateBackend calls.
#
# Objects live in memory; `query.hybrid` ranks them with the local index's fusion over the objects' own
# vectors and the query property, honours a `contains_all` tags filter and the limit, and records every
# call so tests can check what would have been sent to a server.


@dataclass
class FakeCollection:
    name: str
    properties: list
    vector_config: Any
    objects: dict[str, tuple[dict, list[float]]] = field(default_factory=dict)
    inserts: int = 0
    queries: list[dict] = field(default_factory=list)
    fail_insert: str | None = None

    def __post_init__(self) -> None:
        self.data = SimpleNamespace(insert_many=self._insert_many)
        self.aggregate = SimpleNamespace(over_all=self._over_all)
        self.query = SimpleNamespace(hybrid=self._hybrid)

    def _insert_many(self, objects) -> Any:
        self.inserts += 1
        if self.fail_insert:
            error = SimpleNamespace(message=self.fail_insert)
            return SimpleNamespace(has_errors=True, errors={0: error}, uuids={})
        for o in objects:
            self.objects[str(o.uuid)] = (dict(o.properties), list(o.vector))
        return SimpleNamespace(has_errors=False, errors={}, uuids={i: o.uuid for i, o in enumerate(objects)})

    def _over_all(self, total_count: bool = False) -> Any:
        assert total_count
        return SimpleNamespace(total_count=len(self.objects))

    def _hybrid(self, query, *, vector, alpha, limit, query_properties, fusion_type, filters, return_metadata,
                return_properties) -> Any:
        self.queries.append(dict(query=query, vector=vector, alpha=alpha, limit=limit, filters=filters,
                                 query_properties=query_properties, fusion_type=fusion_type,
                                 return_metadata=return_metadata, return_properties=return_properties))
        items = list(self.objects.values())
        if filters is not None:
            assert filters.operator.value == "ContainsAll" and filters.target == "tags"
            items = [(p, v) for p, v in items if set(filters.value) <= set(p["tags"])]
        if not items:
            return SimpleNamespace(objects=[])
        (prop,) = query_properties
        index = HybridIndex(np.array([v for _, v in items], np.float32), [p[prop] for p, _ in items])
        ranked = index.search(np.array(vector, np.float32), query, limit, alpha=alpha)
        return SimpleNamespace(objects=[
            SimpleNamespace(properties={k: items[row][0][k] for k in return_properties},
                            metadata=SimpleNamespace(score=score)) for row, score in ranked])


class FakeCollections:
    def __init__(self) -> None:
        self.stored: dict[str, FakeCollection] = {}
        self.created: list[str] = []

    def exists(self, name: str) -> bool:
        return name in self.stored

    def create(self, name: str, *, properties, vector_config) -> FakeCollection:
        if name in self.stored:
            raise RuntimeError(f"collection {name} already exists")
        self.created.append(name)
        self.stored[name] = FakeCollection(name, properties, vector_config)
        return self.stored[name]

    def use(self, name: str) -> FakeCollection:
        return self.stored[name]


class FakeClient:
    def __init__(self) -> None:
        self.collections = FakeCollections()
        self.closed = False

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def client():
    return FakeClient()


@pytest.fixture
def weaviate_kb(client, embedder):
    library = load_library()
    return KnowledgeBase(WeaviateBackend(client, library), library, embedder)


def test_collection_is_created_on_first_use_with_our_vectors(client, weaviate_kb):
    library = weaviate_kb.library
    assert client.collections.created == []  # nothing happens before the first search
    hits = weaviate_kb.search("selective state space model with input-dependent parameters", k=3)
    assert hits[0].paper.id == "2312.00752"
    (name,) = client.collections.created
    assert name == collection_name(library) and name.startswith("GenesysPapers_")
    stored = client.collections.use(name)
    assert stored.vector_config.vectorizer.vectorizer.value == "none"  # self-provided vectors
    assert len(stored.objects) == len(library)
    vectors = load_embeddings(library)
    props, vector = stored.objects[str(generate_uuid5(library.papers[0].id))]
    assert props["arxiv_id"] == library.papers[0].id and props[TEXT_PROPERTY] == library.papers[0].embedding_text()
    assert vector == pytest.approx(vectors[0].tolist())


def test_hybrid_query_sends_text_vector_alpha_and_filter(client, weaviate_kb):
    hits = weaviate_kb.search("rotary position embedding", k=4, tags=["position"], alpha=0.7)
    assert hits[0].paper.id == "2104.09864" and all("position" in h.paper.tags for h in hits)
    (query,) = client.collections.use(collection_name(weaviate_kb.library)).queries
    assert query["query"] == "rotary position embedding" and query["limit"] == 4 and query["alpha"] == 0.7
    assert len(query["vector"]) == 384 and query["query_properties"] == [TEXT_PROPERTY]
    assert query["fusion_type"].value == "FUSION_TYPE_RELATIVE_SCORE"
    assert query["filters"].value == ["position"]


def test_existing_collection_is_reused_and_a_partial_fill_completed(client, embedder):
    library = load_library()
    KnowledgeBase(WeaviateBackend(client, library), library, embedder).search("mixture of experts", k=1)
    stored = client.collections.use(collection_name(library))
    assert stored.inserts == 3  # 230 papers in batches of 100
    KnowledgeBase(WeaviateBackend(client, library), library, embedder).search("mixture of experts", k=1)
    assert stored.inserts == 3 and client.collections.created == [collection_name(library)]
    # a process killed mid-fill left half the objects: the next one completes it (same uuids)
    for key in list(stored.objects)[::2]:
        del stored.objects[key]
    KnowledgeBase(WeaviateBackend(client, library), library, embedder).search("mixture of experts", k=1)
    assert len(stored.objects) == len(library)


def test_refused_objects_fail_with_the_servers_reason(client, embedder):
    library = load_library()
    backend = WeaviateBackend(client, library)
    client.collections.create(collection_name(library), properties=[], vector_config=None).fail_insert = "disk full"
    with pytest.raises(RuntimeError, match="refused 1 papers .*disk full"):
        KnowledgeBase(backend, library, embedder).search("attention", k=1)


def test_both_backends_agree_on_known_queries(client, embedder):
    library = load_library()
    local = KnowledgeBase(LocalBackend(library), library, embedder)
    remote = KnowledgeBase(WeaviateBackend(client, library), library, embedder)
    for query in ("retention mechanism parallel recurrent chunkwise", "attention sinks for streaming"):
        assert [h.paper.id for h in local.search(query, k=3)] == [h.paper.id for h in remote.search(query, k=3)]
    remote.close()
    assert client.closed


def test_url_resolution_and_parsing(monkeypatch):
    monkeypatch.delenv("GENESYS_WEAVIATE_URL", raising=False)
    monkeypatch.delenv("WEAVIATE_URL", raising=False)
    assert weaviate_url() is None
    monkeypatch.setenv("WEAVIATE_URL", "http://b:8080")
    assert weaviate_url() == "http://b:8080"
    monkeypatch.setenv("GENESYS_WEAVIATE_URL", "http://a:8080")
    assert weaviate_url() == "http://a:8080" and weaviate_url("http://c") == "http://c"
    assert parse_url("https://w.example:8443", grpc_port=443) == dict(
        http_host="w.example", http_port=8443, http_secure=True, grpc_host="w.example", grpc_port=443,
        grpc_secure=True)
    monkeypatch.setenv("GENESYS_WEAVIATE_GRPC_PORT", "50052")
    assert parse_url("weaviate:8080")["grpc_port"] == 50052
    with pytest.raises(ValueError, match="GENESYS_WEAVIATE_URL like http://weaviate:8080"):
        parse_url("ftp://x")


def test_from_env_without_a_url_is_local(monkeypatch, embedder):
    monkeypatch.delenv("GENESYS_WEAVIATE_URL", raising=False)
    monkeypatch.delenv("WEAVIATE_URL", raising=False)
    assert isinstance(KnowledgeBase.from_env(embedder=embedder).backend, LocalBackend)


def test_unreachable_server_is_one_clear_error(embedder):
    # port 9 on 127.0.0.1 (discard) is closed here: the client's start-up check fails at once
    with pytest.raises(RuntimeError, match="cannot reach Weaviate at http://127.0.0.1:9"):
        KnowledgeBase.from_env("http://127.0.0.1:9", embedder=embedder)


@pytest.mark.skipif(not os.environ.get("WEAVIATE_URL"), reason="no Weaviate server: set WEAVIATE_URL to run")
def test_real_weaviate_round_trip(embedder, allow_host):
    from urllib.parse import urlsplit

    allow_host(urlsplit(os.environ["WEAVIATE_URL"]).hostname)  # the one server this test may reach
    with KnowledgeBase.from_env(os.environ["WEAVIATE_URL"], embedder=embedder) as kb:
        assert kb.search("rotary position embedding", k=3)[0].paper.id == "2104.09864"
        assert all("moe" in h.paper.tags for h in kb.search("expert routing", k=3, tags=["moe"]))

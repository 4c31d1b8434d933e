"""The Weaviate backend: the library in a Weaviate collection, searched with a hybrid query.

The collection holds the library's own vectors (no server-side vectorizer): it is created on first use
and filled from the shipped embeddings. Its name carries the library's content hash
(`GenesysPapers_<12 hex>`), so an edited library gets a fresh collection instead of mixing with stale
objects; objects get deterministic uuids (uuid5 of the arXiv id), so a fill interrupted half-way is
completed by the next process. Queries send the query text and its vector; Weaviate fuses its BM25 and
vector rankings with relative-score fusion and the same alpha as the local index.

Only weaviate-client v4's synchronous API is used, and only this subset (what the tests' fake client
implements): `collections.exists/create/use`, `collection.data.insert_many`,
`collection.aggregate.over_all(total_count=True)`, `collection.query.hybrid`, `client.close`.
"""

from __future__ import annotations

import os
from typing import Any, Sequence
from urllib.parse import urlsplit

import numpy as np

from genesys.knowledge.papers import Library

DEFAULT_GRPC_PORT = 50051
GRPC_PORT_VARIABLE = "GENESYS_WEAVIATE_GRPC_PORT"
API_KEY_VARIABLE = "WEAVIATE_API_KEY"
# the text BM25 ranks: the same string the local index and the embeddings use
TEXT_PROPERTY = "text"
_INSERT_BATCH = 100


def collection_name(library: Library) -> str:
    return f"GenesysPapers_{library.content_hash()[:12]}"


def parse_url(url: str, grpc_port: int | None = None) -> dict[str, Any]:
    """connect_to_custom's keyword arguments for an http(s)://host[:port] URL."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"Weaviate URL {url!r} is not http(s)://host[:port]; set GENESYS_WEAVIATE_URL like "
                         "http://weaviate:8080")
    secure = parts.scheme == "https"
    grpc = grpc_port or int(os.environ.get(GRPC_PORT_VARIABLE) or DEFAULT_GRPC_PORT)
    return {"http_host": parts.hostname, "http_port": parts.port or (443 if secure else 80), "http_secure": secure,
            "grpc_host": parts.hostname, "grpc_port": grpc, "grpc_secure": secure}


class WeaviateBackend:
    def __init__(self, client: Any, library: Library, vectors: np.ndarray | None = None,
                 collection: str | None = None):
        self.client = client
        self.library = library
        self.name = collection or collection_name(library)
        self._vectors = vectors
        self._collection: Any = None

    @classmethod
    def connect(cls, url: str, library: Library, grpc_port: int | None = None) -> WeaviateBackend:
        """Connect to the Weaviate at `url` (gRPC on GENESYS_WEAVIATE_GRPC_PORT or 50051, API key from
        WEAVIATE_API_KEY when set)."""
        import weaviate
        from weaviate.classes.init import Auth

        key = os.environ.get(API_KEY_VARIABLE)
        try:
            client = weaviate.connect_to_custom(**parse_url(url, grpc_port),
                                                auth_credentials=Auth.api_key(key) if key else None)
        except Exception as e:
            raise RuntimeError(f"cannot reach Weaviate at {url}: {e}; check the URL and the gRPC port "
                               f"({GRPC_PORT_VARIABLE}), or unset GENESYS_WEAVIATE_URL and WEAVIATE_URL to "
                               "search the local index") from e
        return cls(client, library)

    def collection(self) -> Any:
        """The library's collection, created and filled on first use."""
        if self._collection is None:
            if not self.client.collections.exists(self.name):
                self._create()
            collection = self.client.collections.use(self.name)
            total = collection.aggregate.over_all(total_count=True).total_count
            if total < len(self.library):
                self._fill(collection)
            self._collection = collection
        return self._collection

    def _create(self) -> None:
        from weaviate.classes.config import Configure, DataType, Property, Tokenization

        properties = [
            Property(name="arxiv_id", data_type=DataType.TEXT, tokenization=Tokenization.FIELD,
                     skip_vectorization=True),
            Property(name="title", data_type=DataType.TEXT),
            Property(name="year", data_type=DataType.INT),
            Property(name="tags", data_type=DataType.TEXT_ARRAY, tokenization=Tokenization.FIELD),
            Property(name="summary", data_type=DataType.TEXT),
            Property(name=TEXT_PROPERTY, data_type=DataType.TEXT),
        ]
        try:
            self.client.collections.create(self.name, properties=properties,
                                           vector_config=Configure.Vectors.self_provided())
        except Exception:
            if not self.client.collections.exists(self.name):  # not a concurrent creator: a real failure
                raise

    def _fill(self, collection: Any) -> None:
        from weaviate.classes.data import DataObject
        from weaviate.util import generate_uuid5

        if self._vectors is None:
            from genesys.knowledge.build import load_embeddings

            self._vectors = load_embeddings(self.library)
        objects = [
            DataObject(properties={"arxiv_id": p.id, "title": p.title, "year": p.year, "tags": list(p.tags),
                                   "summary": p.summary, TEXT_PROPERTY: p.embedding_text()},
                       vector=[float(x) for x in self._vectors[i]], uuid=generate_uuid5(p.id))
            for i, p in enumerate(self.library.papers)
        ]
        for start in range(0, len(objects), _INSERT_BATCH):
            result = collection.data.insert_many(objects[start:start + _INSERT_BATCH])
            if result.has_errors:
                first = next(iter(result.errors.values()))
                raise RuntimeError(f"Weaviate refused {len(result.errors)} papers while filling {self.name} "
                                   f"(first: {getattr(first, 'message', first)}); check the server's log")

    def search(self, query: str, vector: np.ndarray, k: int, tags: Sequence[str] | None,
               alpha: float) -> list[tuple[str, float]]:
        from weaviate.classes.query import Filter, HybridFusion, MetadataQuery

        response = self.collection().query.hybrid(
            query=query, vector=[float(x) for x in vector], alpha=alpha, limit=k,
            query_properties=[TEXT_PROPERTY], fusion_type=HybridFusion.RELATIVE_SCORE,
            filters=Filter.by_property("tags").contains_all(list(tags)) if tags else None,
            return_metadata=MetadataQuery(score=True), return_properties=["arxiv_id"])
        return [(o.properties["arxiv_id"], float(o.metadata.score or 0.0)) for o in response.objects]

    def close(self) -> None:
        self.client.close()

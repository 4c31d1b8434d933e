"""The knowledge engine: a shipped library of LM-architecture papers, searchable by meaning and by
keyword, locally (the default) or in Weaviate, and an index over earlier designs for novelty checks.

    from genesys.knowledge import KnowledgeBase
    kb = KnowledgeBase.from_env()          # Weaviate if GENESYS_WEAVIATE_URL / WEAVIATE_URL is set
    for hit in kb.search("selective state space model", k=5, tags=["state-space"]):
        print(hit.paper.id, hit.paper.title, round(hit.score, 2))

Importing this package is cheap: the embedding model (torch) loads on the first query.
"""

from genesys.knowledge.designs import DesignHit, DesignIndex
from genesys.knowledge.papers import Library, LibraryError, Paper, load_library
from genesys.knowledge.search import Hit, KnowledgeBase, LocalBackend

__all__ = ["DesignHit", "DesignIndex", "Hit", "KnowledgeBase", "Library", "LibraryError", "LocalBackend",
           "Paper", "load_library"]

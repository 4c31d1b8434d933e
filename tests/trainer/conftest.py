"""One tokenizer/corpus cache for the whole trainer test session, offline."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="session")
def _cache(tmp_path_factory):
    # the default BPE then trains once per session, in a directory the tests own
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GENESYS_CACHE", str(tmp_path_factory.getbasetemp() / "genesys-cache"))
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("HF_DATASETS_OFFLINE", "1")
        yield

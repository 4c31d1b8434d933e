"""The shipped paper library validates, and malformed entries are refused with a message naming the fix."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from genesys.knowledge.papers import MIN_PAPERS, PAPERS_FILE, LibraryError, load_library, parse_library, sentences

SEEDS = Path(__file__).resolve().parents[2] / "crds" / "genesys" / "api" / "seeds"


def test_library_has_enough_valid_unique_papers():
    library = load_library()
    assert len(library) >= MIN_PAPERS
    ids = [p.id for p in library.papers]
    assert len(ids) == len(set(ids))
    for p in library.papers:
        assert re.fullmatch(r"\d{4}\.\d{4,5}", p.id), p.id
        assert p.title and p.summary and p.tags, p.id
        assert set(p.tags) <= set(library.vocabulary), p.id
        assert 2 <= len(sentences(p.summary)) <= 4, (p.id, sentences(p.summary))
        # the year is the arXiv year, which the id's yymm prefix states
        assert p.year == 2000 + int(p.id[:2]), (p.id, p.year)
        assert set(p.verified_by) <= {"fla-core", "labml-nn", "transformers", "torch"}, p.id


def test_library_covers_every_family():
    library = load_library()
    counts = {t: sum(t in p.tags for p in library.papers) for t in library.vocabulary}
    for family in ("attention", "state-space", "linear-attention", "rnn", "convolution", "moe", "normalization",
                   "position", "hybrid", "test-time-training"):
        assert counts[family] >= 3, (family, counts[family])


def test_every_seed_design_links_to_its_papers():
    library = load_library()
    seeds = sorted(p.stem for p in SEEDS.glob("*.yaml"))
    assert seeds and sorted(library.seed_papers) == seeds
    for seed in seeds:
        papers = library.for_seed(seed)
        assert papers, seed
    assert library.for_seed("mamba2")[0].title.startswith("Transformers are SSMs")
    assert library.for_seed("ttt")[0].id == "2407.04620"
    with pytest.raises(KeyError, match="seed 'nope' has no papers"):
        library.for_seed("nope")
    with pytest.raises(KeyError, match="not in the library"):
        library.paper("9999.99999")


def _edit(mutate) -> str:
    data = yaml.load(PAPERS_FILE.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    mutate(data)
    return yaml.dump(data, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), sort_keys=False)


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda d: d["papers"].append(dict(d["papers"][0])), "appears twice"),
    (lambda d: d["papers"][0].update(id="1706.376"), "new-style arXiv id"),
    (lambda d: d["papers"][0].update(tags=["quantum"]), "not in the library's vocabulary"),
    (lambda d: d["papers"][0].update(summary="One sentence only."), "has 1 sentences"),
    (lambda d: d["papers"][0].update(summary="A. B. C. D. E."), "has 5 sentences"),
    (lambda d: d["papers"][0].pop("title"), "missing fields \\['title'\\]"),
    (lambda d: d["papers"][0].update(abstract="copied"), "unknown fields \\['abstract'\\]"),
    (lambda d: d["seed_papers"].update(extra=["0000.00000"]), "seed_papers\\[extra\\] names"),
    (lambda d: d.update(papers=d["papers"][:10]), "needs at least"),
], ids=["duplicate", "id-format", "tag", "short-summary", "long-summary", "missing", "unknown", "seed", "count"])
def test_malformed_library_is_refused(mutate, message):
    with pytest.raises(LibraryError, match=message):
        parse_library(_edit(mutate))


def test_sentence_split_keeps_decimals_and_names():
    assert len(sentences("Weights are 1.58 bits. Mamba-2 follows. It is fast.")) == 3

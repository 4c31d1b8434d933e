"""The seeds genesys.api ships: the unit library's exports, loadable and resolvable without torch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from genesys.api import Evolution, dump_manifest, loads_manifest
from genesys.api.seed_library import EXPORT_COMMAND, SeedError, SeedNotFoundError, load_seed, resolve_seeds, seed_names

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "crds" / "genesys" / "api" / "seeds"


def _evolution(seeds: str) -> Evolution:
    text = f"apiVersion: genesys.dev/v1alpha1\nkind: Evolution\nmetadata: {{name: demo}}\nspec: {{seeds: {seeds}}}\n"
    return loads_manifest(text, Evolution)


def test_shipped_seeds_are_what_the_unit_library_exports():
    gau = pytest.importorskip("genesys.gau", exc_type=ImportError)  # regenerating needs torch
    shipped = sorted(p.stem for p in SHIPPED.glob("*.yaml"))
    assert shipped == gau.seed_names(), f"the shipped seeds are not the library's: delete {SHIPPED}/*.yaml, " \
                                        f"then run `{EXPORT_COMMAND}`"
    for name in gau.seed_names():
        assert (SHIPPED / f"{name}.yaml").read_text(encoding="utf-8") == dump_manifest(gau.seed_design(name)), (
            f"{SHIPPED / name}.yaml differs from the unit library: run `{EXPORT_COMMAND}`")


def test_seeds_load_by_name_and_an_unknown_name_lists_them():
    assert seed_names() == ["gpt2", "mamba2", "retnet", "rwkv6", "ttt"]
    gpt2 = load_seed("gpt2")
    assert gpt2.name == "gpt2" and gpt2.spec.tree.root == "GPT2Block" and gpt2.spec.tree.units["GPT2Block"].code
    assert load_seed("gpt2") is not gpt2  # callers may change theirs
    with pytest.raises(SeedNotFoundError, match=r"'retnt'; did you mean retnet\? \(seeds: gpt2, mamba2, retnet"):
        load_seed("retnt")
    with pytest.raises(KeyError, match="known: gpt2, mamba2, retnet, rwkv6, ttt"):
        load_seed("transformer")


def test_seeds_resolve_names_and_files_in_order(tmp_path):
    mine = load_seed("ttt")
    mine.metadata.name = "mine"
    (tmp_path / "designs").mkdir()
    (tmp_path / "designs" / "mine.yaml").write_text(dump_manifest(mine))
    designs = resolve_seeds(_evolution("[designs/mine.yaml, gpt2]"), tmp_path)
    assert [d.name for d in designs] == ["mine", "gpt2"]
    absolute = resolve_seeds(_evolution(f"[{tmp_path / 'designs' / 'mine.yaml'}]"), ROOT)
    assert absolute == [mine]


@pytest.mark.parametrize(
    ("seeds", "match"),
    [
        ("[gpt2, gtp2]", r"^spec.seeds: no seed design named 'gtp2'; did you mean gpt2\?"),
        ("[missing.yaml]", r"^spec.seeds: .*missing.yaml does not exist; give a library seed name \(gpt2, "),
        ("[bad.yaml]", r"^spec.seeds: .*bad.yaml: not a valid Design manifest"),
        ("[gpt2, copy.yaml]", r"^spec.seeds: more than one seed is named gpt2 \(gpt2, gpt2\); rename"),
    ],
)
def test_bad_seed_references_say_what_to_give_instead(tmp_path, seeds, match):
    (tmp_path / "bad.yaml").write_text("apiVersion: genesys.dev/v1alpha1\nkind: Design\nmetadata: {name: bad}\n")
    (tmp_path / "copy.yaml").write_text(dump_manifest(load_seed("gpt2")))
    with pytest.raises(SeedError, match=match):
        resolve_seeds(_evolution(seeds), tmp_path)


NO_TORCH_RUN = """
import sys
from pathlib import Path

try:
    import torch
except ImportError:
    pass
else:
    raise SystemExit("the blocker did not block torch")
from genesys.local.runner import check_rungs, load_evolution, resolve_seeds

evolution, _ = load_evolution(Path(sys.argv[1]))
print(" ".join(d.name for d in resolve_seeds(evolution, Path(sys.argv[1]).parent)))
check_rungs(evolution)
"""


def test_an_evolution_is_loaded_and_its_seeds_and_ladder_resolved_without_torch(tmp_path):
    """An install without the trainer extra: `import torch` fails here and in any process started from here."""
    (tmp_path / "torch").mkdir()
    (tmp_path / "torch" / "__init__.py").write_text('raise ImportError("no torch in this install")\n')
    path = os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, "-c", NO_TORCH_RUN, str(ROOT / "examples" / "evolution-local.yaml")],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": path}, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["gpt2", "mamba2", "retnet", "rwkv6", "ttt"]

"""Does our fitness rank designs as the Genesys paper's own evaluation did?

    python benchmarks/genesys_rank_agreement.py ~/genesys               # every tree with a 14M result
    python benchmarks/genesys_rank_agreement.py ~/genesys --limit 12 --set tokens=262144 --out /tmp/agreement

Imports the designs of a Genesys checkout (allenai/genesys: model_discovery/agents/bench_data and
model/library/core) with `genesys library import-genesys`'s code, keeps those with Genesys's own
14M result (its mean lm-eval accuracy, verifications/14M.json), verifies each at `--rung` (check,
train, evaluate: `python -m genesys.trainer.verification`, one process per design) and prints JSON:
how many were imported / had a 14M result / verified, why the others failed, and the Spearman
rank correlation between our fitness and Genesys's 14M score over the n verified, with every pair.
Two references from the same designs help read it: the correlation within each lineage (the core
seeds a design descends from, by Genesys's seed_ids), and Genesys's own 14M-vs-31M agreement over
the verified designs that have both, i.e. how well Genesys agrees with itself across scales.
Designs are taken in name order; `--limit` keeps the first N with a 14M result.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

SCALE = "14M"


def ranks(values: list[float]) -> list[float]:
    """Ranks from 1, ties sharing their mean rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return out


def spearman(x: list[float], y: list[float]) -> float | None:
    """Spearman's rho: Pearson's correlation of the ranks; None below 3 pairs or with no spread."""
    if len(x) < 3:
        return None
    rx, ry = ranks(x), ranks(y)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    vx, vy = sum((a - mx) ** 2 for a in rx), sum((b - my) ** 2 for b in ry)
    return cov / (vx * vy) ** 0.5 if vx and vy else None


def scores(design: Any) -> dict[str, float]:
    """Genesys's mean accuracy per scale, from the importer's annotation."""
    return json.loads(design.metadata.annotations.get("genesys.dev/genesys-scores", "{}"))


def lineages(designs: list[Any]) -> dict[str, str]:
    """Each design's lineage: the ancestors without seeds of their own (the core seeds, in practice)
    reached through Genesys's seed_ids, joined with '+' ('gpt2', 'gpt2+ttt'). Names compare
    case-insensitively (core seeds are named 'GPT2', their children cite 'gpt2'); a parent that was
    not imported counts as a root."""
    parents = {}
    for d in designs:
        seeds = d.metadata.annotations.get("genesys.dev/genesys-seeds", "")
        parents[d.metadata.annotations.get("genesys.dev/genesys-name", d.name).lower()] = \
            [s.strip().lower() for s in seeds.split(",") if s.strip()]

    def roots(name: str, path: frozenset[str]) -> set[str]:
        if not parents.get(name) or name in path:
            return {name}
        return set().union(*(roots(p, path | {name}) for p in parents[name]))

    return {d.name: "+".join(sorted(roots(d.metadata.annotations.get("genesys.dev/genesys-name", d.name).lower(),
                                          frozenset())))
            for d in designs}


def candidates(checkout: Path) -> tuple[list[Any], dict[str, Any], dict[str, str]]:
    """Imported designs that carry Genesys's 14M score, the import's counts, and every design's lineage."""
    from genesys.agents.genesys_import import import_designs

    roots = [checkout / "model_discovery" / "model" / "library" / "core",
             checkout / "model_discovery" / "agents" / "bench_data"]
    items = import_designs([r for r in roots if r.exists()] or [checkout])
    designs = [i.converted.design for i in items if i.converted]
    scored = [d for d in designs if SCALE in scores(d)]
    counts = {"distinct": sum(1 for i in items if i.duplicate_of is None), "imported": len(designs),
              f"with_{SCALE}": len(scored)}
    return sorted(scored, key=lambda d: d.name), counts, lineages(designs)


def references(pairs: list[dict[str, Any]]) -> dict[str, Any]:
    """The correlation within each lineage, and Genesys's own 14M-vs-31M agreement, over the same pairs."""
    by_lineage: dict[str, list[dict[str, Any]]] = {}
    for p in pairs:
        by_lineage.setdefault(p["lineage"], []).append(p)
    within = {name: {"n": len(group), "spearman": spearman([p["fitness"] for p in group],
                                                           [p[f"genesys_{SCALE}"] for p in group])}
              for name, group in sorted(by_lineage.items())}
    both = [p for p in pairs if p.get("genesys_31M") is not None]
    return {"by_lineage": within,
            "genesys_14M_vs_31M": {"n": len(both), "spearman": spearman([p[f"genesys_{SCALE}"] for p in both],
                                                                        [p["genesys_31M"] for p in both])}}


def verify(design: Any, rung: str, out: Path, timeout: float, overrides: list[str]) -> dict[str, Any]:
    from genesys.api import dump_manifest
    from genesys.api.results import VerificationResult

    folder = out / design.name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "design.yaml").write_text(dump_manifest(design))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    start = time.monotonic()
    try:
        command = [sys.executable, "-m", "genesys.cli", "verify", str(folder / "design.yaml"), "--rung", rung,
                   "--out", str(folder / "run"), *[a for o in overrides for a in ("--set", o)]]
        subprocess.run(command, env=env, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"status": "failed", "reason": "timeout", "seconds": timeout}
    result_file = folder / "run" / "result.json"
    if not result_file.exists():
        return {"status": "failed", "reason": "no result.json", "seconds": time.monotonic() - start}
    result = VerificationResult.from_json(result_file.read_text())
    return {"status": result.status, "reason": result.reason, "fitness": result.fitness,
            "seconds": round(time.monotonic() - start, 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkout", type=Path, help="a checkout of allenai/genesys")
    ap.add_argument("--rung", default="cpu-1", help="the rung to verify at (default cpu-1)")
    ap.add_argument("--limit", type=int, default=0, help="only the first N designs with a 14M result (0: all)")
    ap.add_argument("--out", type=Path, default=Path("genesys-agreement"), help="working folder (kept)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per verification")
    ap.add_argument("--set", dest="overrides", action="append", default=[],
                    help="override a rung field for every verification, e.g. --set tokens=262144 (repeatable)")
    args = ap.parse_args(argv)
    if not args.checkout.exists():
        ap.error(f"{args.checkout}: no such folder; pass a checkout of github.com/allenai/genesys")
    scored, counts, lineage = candidates(args.checkout)
    if args.limit:
        scored = scored[:args.limit]
    pairs: list[dict[str, Any]] = []
    failures: Counter[str] = Counter()
    for n, design in enumerate(scored, 1):
        outcome = verify(design, args.rung, args.out, args.timeout, args.overrides)
        genesys = scores(design)
        print(f"{n}/{len(scored)} {design.name}: {outcome}", file=sys.stderr)
        if outcome["status"] == "succeeded" and outcome.get("fitness") is not None:
            pairs.append({"design": design.name, "lineage": lineage[design.name], "fitness": outcome["fitness"],
                          f"genesys_{SCALE}": genesys[SCALE], "genesys_31M": genesys.get("31M"),
                          "seconds": outcome["seconds"]})
        else:
            failures[str(outcome.get("reason"))] += 1
    rho = spearman([p["fitness"] for p in pairs], [p[f"genesys_{SCALE}"] for p in pairs])
    print(json.dumps({**counts, "tried": len(scored), "rung": args.rung, "overrides": args.overrides,
                      "verified": len(pairs),
                      "failures": dict(failures), "n": len(pairs), "spearman": rho, **references(pairs),
                      "pairs": pairs}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

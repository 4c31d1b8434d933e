"""Validity of LLM design sessions: the paper's unit-by-unit session against the direct (one-shot) baseline.

    python benchmarks/design_validity.py --model openai/gpt-4o-mini --sessions 10
    python benchmarks/design_validity.py --model openai/qwen2.5-coder --api-base http://127.0.0.1:8000/v1 \
        --api-key-env NONE --sessions 5 --seeds gpt2,retnet

Runs the same N mutation sessions (seed i mod the seeds, session seed i) in each mode with the
same model for every role, each in a fresh store, and prints JSON per mode: sessions, designs,
validity (designs / sessions: passed the checker and is new), why the others ended (stage
counts), checked candidates and coder calls per session, LLM calls, tokens, USD and seconds;
then `units_over_direct`, the ratio of validities in this run (the paper reports the
unit-by-unit session far more valid than direct prompting). Needs an LLM endpoint: there is
none on the machine this project is built on, so no number from it is quoted in the README.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from genesys.api import ObjectMeta, dump_manifest
from genesys.api.evolution import DesignerSpec
from genesys.api.session import DesignSessionJob, DesignSessionJobSpec, SessionOutcome

MODES = ("units", "direct")


def designer_spec(model: str, api_base: str | None, key_env: str | None, mode: str, cap: float | None,
                  extra: dict[str, Any] | None = None) -> DesignerSpec:
    default: dict[str, Any] = {"models": [{"model": model}]}
    if api_base:
        default["apiBase"] = api_base
    if key_env:
        default["apiKeyEnv"] = key_env
    llm: dict[str, Any] = {"roles": {"default": default}, "mode": mode, **(extra or {})}
    if cap:
        llm["sessionCostCapUSD"] = cap
    return DesignerSpec.model_validate({"kind": "llm", "llm": llm})


def run_mode(spec: DesignerSpec, sessions: int, seeds: list[str], designer_options: dict[str, Any]) -> dict[str, Any]:
    """N sessions of one mode; the summary the JSON prints for it."""
    from genesys.agents.llm_designer import LLMDesigner
    from genesys.agents.session import run_job
    from genesys.gau import seed_design

    outcomes: list[SessionOutcome] = []
    coder_calls = 0
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="genesys-validity-") as tmp:
        for i in range(sessions):
            store = Path(tmp) / f"s{i}"
            parent = seeds[i % len(seeds)]
            path = store / "bench" / "designs" / parent / "design.yaml"
            path.parent.mkdir(parents=True)
            path.write_text(dump_manifest(seed_design(parent)))
            job = DesignSessionJob(metadata=ObjectMeta(name=f"d{i}"), spec=DesignSessionJobSpec.model_validate(
                {"evolution": "bench", "operation": "mutation", "parents": [parent], "seed": i, "store": str(store),
                 "designer": spec}))
            out = store / "bench" / "designs" / f"d{i}"
            outcome = run_job(job, out, LLMDesigner(spec, **designer_options))
            outcomes.append(outcome)
            coder_calls += sum(1 for line in (out / "session.jsonl").read_text().splitlines()
                               if '"role": "coder"' in line and '"event": "call"' in line)
            print(f"{spec.llm.mode if spec.llm else '?'} {i + 1}/{sessions}: {outcome.status} "
                  f"{outcome.stage or ''} {outcome.reason or outcome.title}"[:200], file=sys.stderr)
    designs = sum(1 for o in outcomes if o.status == "succeeded")
    return {"sessions": sessions, "designs": designs, "validity": designs / sessions if sessions else 0.0,
            "stages": dict(Counter(o.stage for o in outcomes if o.stage)),
            "checked_per_session": sum(o.checked for o in outcomes) / max(1, sessions),
            "coder_calls_per_session": coder_calls / max(1, sessions),
            "llm_calls": sum(o.spend.llm_calls for o in outcomes), "tokens": sum(o.spend.tokens for o in outcomes),
            "usd": round(sum(o.spend.usd for o in outcomes), 6), "seconds": round(time.monotonic() - start, 1)}


def measure(model: str, api_base: str | None, key_env: str | None, sessions: int, seeds: list[str],
            modes: list[str], cap: float | None = None, extra: dict[str, Any] | None = None,
            designer_options: dict[str, Any] | None = None) -> dict[str, Any]:
    report: dict[str, Any] = {"model": model, "sessions_per_mode": sessions, "seeds": seeds}
    for mode in modes:
        report[mode] = run_mode(designer_spec(model, api_base, key_env, mode, cap, extra), sessions, seeds,
                                designer_options or {})
    if "units" in report and "direct" in report:
        direct = report["direct"]["validity"]
        report["units_over_direct"] = report["units"]["validity"] / direct if direct else None
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="a litellm model name, e.g. openai/gpt-4o-mini")
    ap.add_argument("--api-base", help="an OpenAI-compatible endpoint (vLLM, Ollama, a proxy)")
    ap.add_argument("--api-key-env", help="the environment variable holding the key (default: the provider's)")
    ap.add_argument("--sessions", type=int, default=5, help="sessions per mode (default 5)")
    ap.add_argument("--seeds", default="gpt2,retnet,mamba2", help="comma-separated parent seeds")
    ap.add_argument("--modes", default="units,direct", help="units, direct or both (default)")
    ap.add_argument("--session-cap-usd", type=float, help="sessionCostCapUSD for every session")
    args = ap.parse_args(argv)
    modes = [m for m in args.modes.split(",") if m]
    bad = [m for m in modes if m not in MODES]
    if bad or args.sessions < 1:
        ap.error(f"--modes takes {' and '.join(MODES)}; --sessions at least 1 (got {args.modes}, {args.sessions})")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from genesys.agents.llm import PreflightError, preflight

    spec = designer_spec(args.model, args.api_base, args.api_key_env, "units", None)
    try:
        assert spec.llm is not None
        preflight(spec.llm)
    except PreflightError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(measure(args.model, args.api_base, args.api_key_env, args.sessions,
                             args.seeds.split(","), modes, args.session_cap_usd), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

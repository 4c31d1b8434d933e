"""What happened between two snapshots of a run, as one plain line per event.

`genesys run` shows a live view on a terminal; into a log file or a pipe a live view
writes nothing useful (or escape codes), so there it prints these lines instead:

    for line in run_events(previous, snapshot):
        print(line)

Everything is derived from the two snapshots, so the same events come out whether a
turn settled one child or ten, and a resumed run does not replay its history.
"""

from __future__ import annotations

import dataclasses

from genesys.local.snapshot import RunSnapshot

SESSION = "session"  # the failed_rungs key of a design session that produced no design


def _baseline(first: RunSnapshot) -> RunSnapshot:
    """What the first snapshot is compared with: its history as known, nothing running, not completed.

    So the first turn of a fresh or resumed run reports what it started (and a completion),
    but not the sessions and verifications that finished before this `genesys run`.
    """
    return dataclasses.replace(first, running_sessions=(), running_verifications=(), completed_reason=None)


def _repeat(repeat: int) -> str:
    return f" (noise repeat {repeat}, training seed +{repeat})" if repeat else ""


def run_events(before: RunSnapshot | None, after: RunSnapshot) -> list[str]:
    """Lines for what finished, was released, started and completed from `before` to `after`.

    `before` None means `after` is the first snapshot this process saw.
    """
    before = before or _baseline(after)
    lines: list[str] = []
    known = {d.name: d for d in before.designs}
    for d in after.designs:
        if d.name in known or d.operation == "seed":
            continue
        if SESSION in d.failed_rungs:
            lines.append(f"design session {d.name} failed: {d.failed_rungs[SESSION]}")
        else:
            lines.append(f"design session {d.name} succeeded: {d.title or '(untitled)'}")
    scored = set(before.history)  # whole entries: repeats of a design at a rung finish at different times
    for entry in after.history:
        if entry not in scored:
            _, design, rung, fitness = entry
            lines.append(f"verification {design} @ {rung} succeeded: fitness {fitness:.3f}")
    lines += [f"verification {design} @ {rung}{_repeat(repeat)} succeeded: fitness {fitness:.3f}"
              for design, rung, repeat, fitness in after.repeats_done if (design, rung, repeat, fitness) not in
              before.repeats_done]
    for d in after.designs:
        failed_before = known[d.name].failed_rungs if d.name in known else {}
        for rung, reason in d.failed_rungs.items():
            if rung != SESSION and rung not in failed_before:
                lines.append(f"verification {d.name} @ {rung} failed: {reason}")
    released = {b.rung: b.released for b in before.budgets}
    for b in after.budgets:
        if b.released > released.get(b.rung, b.released):
            lines.append(f"budget {b.rung}: {b.released} of {b.total} runs released (was {released[b.rung]})")
    lines += [f"design session {name} started" for name in after.running_sessions
              if name not in before.running_sessions]
    lines += [f"verification {design} @ {rung}{_repeat(repeat)} started"
              for design, rung, repeat in after.running_verifications
              if (design, rung, repeat) not in before.running_verifications]
    if after.completed_reason and not before.completed_reason:
        lines.append(f"run {'failed' if after.phase == 'Failed' else 'completed'}: {after.completed_reason}")
    return lines

"""What the symbolic checker measures, at which sizes, and where it draws the lines.

The defaults check a seed in about 20 s on 2 CPU cores. Thresholds for efficiency
are the Genesys paper's (arXiv 2506.20249, appendix on the symbolic checker).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

GiB = 2**30

# The checks, in report order. `format` runs in the parent, `sandbox` judges the
# child process, the rest run inside it.
CHECK_NAMES = (
    "format", "init", "forward", "causality", "gradients", "stability", "efficiency", "complexity", "sandbox",
)
DYNAMIC_CHECKS = CHECK_NAMES[1:-1]


@dataclass(frozen=True)
class CheckConfig:
    # The probe LM: byte vocabulary (the stability text is bytes), small but real.
    vocab_size: int = 256
    d_model: int = 64
    n_block: int = 2  # two blocks: some bugs only show when blocks compose
    # init builds at both scales; forward also runs at the second, really different, one.
    second_scale: tuple[int, int] = (128, 3)
    # forward: lengths of the random-token forward; a prime length catches chunking bugs.
    forward_lengths: tuple[int, ...] = (128, 37)
    # causality: the Jacobian test checks EVERY position at each length (one copy of the
    # sequence per position); 300 is not a multiple of any chunk size up to 64.
    causality_lengths: tuple[int, ...] = (256, 300)
    causality_n_block: int = 1  # the Jacobian costs L passes: one block keeps it cheap
    causality_group: int = 64  # copies per backward pass (caps memory)
    causality_rtol: float = 1e-4  # |grad at the future| / max |grad| above this is a leak
    # perturbation test (catches .detach()/argmax leaks that gradients cannot see)
    perturbation_cuts: tuple[int, ...] = (0, 1, 7, 15, 16, 31, 32, 47, 63, 64, 100, 127, 128, 191, 200, 254)
    perturbation_atol: float = 1e-4  # relative to max |output|
    # gradients: extra optimizer steps before an all-zero gradient counts (zero-init gates)
    gradient_retry_steps: int = 3
    # Parameters with no gradient on the short probe are probed again at doubling lengths up
    # to this one: a parameter used only on long sequences is length-dependent, not dead.
    gradient_long_length: int = 2048
    # stability: real steps on English text (stdlib docstrings) with AdamW
    stability_steps: int = 24
    stability_batch: int = 8
    stability_seq_len: int = 128
    stability_lr: float = 3e-3
    loss_margin: float = 1.0  # any loss above ln(vocab_size) + margin fails
    min_loss_drop: float = 0.5  # the last 5 steps' mean must be this far below the first loss
    max_grad_norm: float = 100.0  # pre-clipping gradient norm bound
    # efficiency: against the gpt2 seed at the same width and non-embedding parameters
    efficiency_d_model: int = 128
    efficiency_reference_blocks: int = 4  # the reference's depth; the design's is fitted to it
    efficiency_batch: int = 2
    efficiency_seq_len: int = 256
    efficiency_repeats: int = 5  # timed fwd+bwd runs of each model (the fastest counts)
    time_ratio: tuple[float, float] = (1.5, 3.0)  # (warn above, fail above)
    memory_ratio: tuple[float, float] = (2.0, 4.0)
    flops_ratio: tuple[float, float] = (1.5, 3.0)
    # A time ratio that fails by less than this fraction of its limit is measured again (at most
    # `efficiency_remeasures` more times) and the best measurement counts: timing is noisy at the line.
    time_remeasure_margin: float = 0.15
    efficiency_remeasures: int = 2
    abort_time_ratio: float = 6.0  # slower than this: skip the remaining checks
    # complexity: fwd+bwd time at growing length, batch 1, one block
    complexity_lengths: tuple[int, ...] = (256, 512, 1024)
    complexity_max_exponent: float = 2.0
    complexity_tolerance: float = 0.3  # timing noise
    complexity_max_seconds: float = 4.0  # stop growing the length once one run is this slow
    # sandbox limits of the child process
    wall_seconds: float = 180.0  # generous: a loaded machine is slow; a hang still ends
    cpu_seconds: float | None = None  # default: threads * wall_seconds + 30
    memory_bytes: int = 12 * GiB  # address space; importing torch alone maps ~1 GiB
    threads: int = 2
    # Run only these dynamic checks (others are reported as skipped); None runs all.
    only: tuple[str, ...] | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.only is not None:
            unknown = sorted(set(self.only) - set(DYNAMIC_CHECKS))
            if unknown:
                raise ValueError(f"CheckConfig.only: unknown checks {unknown}; choose from {', '.join(DYNAMIC_CHECKS)}")
        if min(self.causality_lengths) < 2 or self.d_model <= 0 or self.n_block <= 0:
            raise ValueError("CheckConfig: lengths, d_model and n_block must be positive")

    @property
    def cpu_limit(self) -> float:
        return self.cpu_seconds if self.cpu_seconds is not None else self.threads * self.wall_seconds + 30

    def wants(self, check: str) -> bool:
        return self.only is None or check in self.only

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckConfig:
        fields = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in fields}
        return cls(**kwargs)


def quick_config(**changes: Any) -> CheckConfig:
    """Smaller sizes and fewer steps: for tests and fast inner loops, not for acceptance."""
    base = CheckConfig(
        forward_lengths=(48, 37),
        causality_lengths=(64, 80),
        perturbation_cuts=(0, 1, 7, 15, 16, 31, 32, 50, 63, 70),
        stability_steps=20,
        stability_seq_len=64,
        efficiency_seq_len=128,
        efficiency_repeats=3,
        complexity_lengths=(128, 256, 512),
        wall_seconds=60.0,
    )
    return dataclasses.replace(base, **changes)

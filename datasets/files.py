"""Files and folders that appear whole or not at all, with the modes users expect.

Writes go to a temporary sibling that is renamed over the target when complete, so a reader
(or a killed process) never sees half of one. Python's private temporaries (mkstemp's 0600
files, mkdtemp's 0700 folders) would keep that mode after the rename; what we write gets the
mode the user's umask gives any new file.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TextIO

from filelock import FileLock

from hrm.datasets.errors import HRMDataError


def usual_file_mode() -> int:
    """0o666 less the process umask: the mode `open(path, "w")` would have given."""
    umask = os.umask(0)  # the only way to read it is to set it
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def staged_file(target: Path, *, overwrite: bool = True,
                **open_options: str) -> Iterator[TextIO]:
    """Yield a text handle on a temporary sibling that replaces `target` on success.

    The bytes are on disk (fsync) before the rename; on an error (or Ctrl-C) the temporary
    is removed and `target` is left as it was. Without `overwrite`, a `target` that exists
    when the file is complete (even one created meanwhile) is kept and TargetExistsError
    raised: the file is linked into place, which fails rather than replaces.
    `open_options`: newline, encoding.
    """
    target = Path(target)
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name[:100]}.",
                                     suffix=".part")
    try:
        os.fchmod(fd, usual_file_mode())
        with os.fdopen(fd, "w", **open_options) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        if overwrite:
            os.replace(temporary, target)
        else:
            try:
                os.link(temporary, target)
            except FileExistsError:
                raise TargetExistsError(f"{target}: already exists (use --force to "
                                        "replace it)") from None
            Path(temporary).unlink()
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


STALE_AFTER_S = 24 * 3600
"""A staging folder whose owner cannot be checked (another host) is stale after this long."""


class TargetExistsError(HRMDataError):
    """The target appeared (or was there) and replacing it was not allowed."""


def check_target_name(target: Path) -> None:
    """Refuse targets that name no new folder: '.', '..' (and '/'), which no rename can replace."""
    if Path(target).name in ("", ".", ".."):
        raise TargetExistsError(f"{target}: name the folder to write (e.g. data/mine), "
                                "not '.' or '..'")


@contextlib.contextmanager
def target_lock(target: Path) -> Iterator[None]:
    """Hold the lock of `target` (a hidden `.NAME.lock` sibling, removed on release).

    The file is unlinked while still held: a waiter that then gets the lock on the unlinked
    file sees that and retries on a new one (filelock 4.3 does), so no user folder keeps
    lock files around.
    """
    path = target.with_name(f".{target.name[:100]}.lock")
    with FileLock(path):
        try:
            yield
        finally:
            path.unlink(missing_ok=True)


def _stage_prefix(target: Path, kind: str) -> str:
    # Shortened, so that a target whose name is near the file system's limit still fits.
    return f".{target.name[:100]}.{kind}-"


def _host() -> str:
    return (socket.gethostname().replace("-", "_") or "localhost")[:40]


def _stage_name(target: Path, kind: str) -> Path:
    """`.NAME.KIND-HOST-PID-RANDOM`: whoever finds it later can tell whether its writer lives."""
    return target.with_name(f"{_stage_prefix(target, kind)}{_host()}-{os.getpid()}-"
                            f"{uuid.uuid4().hex[:8]}")


def _is_stale(folder: Path) -> bool:
    """True when the process that made `folder` is gone (same host) or it is old."""
    parts = folder.name.rsplit("-", 3)
    try:
        host, pid = parts[1], int(parts[2])
    except (IndexError, ValueError):
        host, pid = "", 0  # an older layout without a pid: only its age tells
    if host == _host() and pid > 0:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False  # alive, another user's
        else:
            return False
    try:
        return time.time() - folder.stat().st_mtime > STALE_AFTER_S
    except FileNotFoundError:
        return False  # its owner just renamed or removed it


def remove_stale_stages(target: Path) -> None:
    """Remove the staging and `.old` folders of `target` left by writers that died."""
    for kind in ("staging", "old"):
        prefix = _stage_prefix(target, kind)
        for folder in target.parent.iterdir():
            if not folder.name.startswith(prefix):
                continue
            if folder.is_dir() and _is_stale(folder):
                shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def staged_dir(target: Path, *, overwrite: bool = True,
               check_replace: Callable[[Path], None] | None = None) -> Iterator[Path]:
    """Yield an empty staging folder that replaces `target` in one rename on success.

    Readers therefore see either the old folder or the finished new one, never a half
    written one. On an error (or Ctrl-C) the staging folder is removed and `target` is
    left as it was. Leftover staging folders of dead writers are cleaned up here; those of
    live ones (another process building the same target) are left alone.

    The final step runs under a lock on `target`: if `target` then exists (and is not an
    empty folder), it is replaced only when `overwrite` is set and `check_replace(target)`
    (if given) does not raise; otherwise TargetExistsError. Two writers racing for the same
    target therefore give one result and one clear error, never a mix.
    """
    target = Path(target)
    check_target_name(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_stages(target)
    staging = _stage_name(target, "staging")
    staging.mkdir()  # not mkdtemp: its 0700 mode would become the final folder's
    try:
        yield staging
        with target_lock(target):
            if _occupied(target):
                if not overwrite:
                    raise TargetExistsError(f"{target}: already exists (use --force to replace)")
                if check_replace is not None:
                    check_replace(target)
            replace_dir(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _occupied(target: Path) -> bool:
    """True if `target` exists as anything but an empty folder."""
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        return True
    try:
        return any(target.iterdir())
    except FileNotFoundError:
        return False


def replace_dir(source: Path, target: Path) -> None:
    """Move folder `source` to `target`, replacing whatever `target` was."""
    source, target = Path(source), Path(target)
    if target.is_symlink() or target.is_file():
        target.unlink()
    elif target.exists():
        old = _stage_name(target, "old")
        os.replace(target, old)
        os.replace(source, target)
        shutil.rmtree(old, ignore_errors=True)
        return
    os.replace(source, target)

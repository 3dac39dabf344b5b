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
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO


def usual_file_mode() -> int:
    """0o666 less the process umask: the mode `open(path, "w")` would have given."""
    umask = os.umask(0)  # the only way to read it is to set it
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def staged_file(target: Path, **open_options: str) -> Iterator[TextIO]:
    """Yield a text handle on a temporary sibling that replaces `target` on success.

    The bytes are on disk (fsync) before the rename; on an error (or Ctrl-C) the temporary
    is removed and `target` is left as it was. `open_options`: newline, encoding.
    """
    target = Path(target)
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.",
                                     suffix=".part")
    try:
        os.fchmod(fd, usual_file_mode())
        with os.fdopen(fd, "w", **open_options) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def staged_dir(target: Path) -> Iterator[Path]:
    """Yield an empty staging folder that replaces `target` in one rename on success.

    Readers therefore see either the old folder or the finished new one, never a half
    written one. On an error (or Ctrl-C) the staging folder is removed and `target` is
    left as it was. Leftover staging folders of a killed process are cleaned up here.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in target.parent.glob(f".{target.name}.staging-*"):
        shutil.rmtree(stale, ignore_errors=True)
    staging = target.with_name(f".{target.name}.staging-{uuid.uuid4().hex[:12]}")
    staging.mkdir()  # not mkdtemp: its 0700 mode would become the dataset folder's
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    replace_dir(staging, target)


def replace_dir(source: Path, target: Path) -> None:
    """Move folder `source` to `target`, replacing whatever `target` was."""
    source, target = Path(source), Path(target)
    if target.is_symlink() or target.is_file():
        target.unlink()
    elif target.exists():
        old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(target, old)
        os.replace(source, target)
        shutil.rmtree(old, ignore_errors=True)
        return
    os.replace(source, target)

"""Exit codes and the mapping from library errors to one-line messages."""

from __future__ import annotations

import errno
import os
import sys

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_UNSOLVED = 3
EXIT_INTERRUPTED = 130

# Error types that mean "the user's input or environment is wrong", by module and name.
# They are matched only when their module is already imported: an exception can only be of
# a type whose module has been loaded, and this keeps start-up free of heavy imports.
USER_ERROR_TYPES: tuple[tuple[str, str], ...] = (
    ("hrm.datasets.errors", "HRMDataError"),
    ("hrm.model.errors", "CheckpointError"),
    ("hrm.train.errors", "TrainingError"),
)


def format_user_error(exc: BaseException) -> str | None:
    """The one-line message for a known user error, or None for a bug (let it raise)."""
    for module_name, type_name in USER_ERROR_TYPES:
        module = sys.modules.get(module_name)
        error_type = getattr(module, type_name, None) if module else None
        if error_type is not None and isinstance(exc, error_type):
            return str(exc)
    if isinstance(exc, OSError):
        return format_os_error(exc)
    return None


# What to add to the system's words, for the errors a user can do something about.
OS_ERROR_HINTS = {
    errno.ENOTDIR: "a part of this path is a file, not a folder",
    errno.EEXIST: "it exists and is not a folder",
    errno.ENAMETOOLONG: "a name in this path is too long for the file system",
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EROFS: "the file system is read-only",
}


def format_os_error(exc: OSError) -> str:
    """One line for an error of the operating system: the path (shortened), the system's
    words, and what they mean when that is not obvious; where `HRM_HOME` is to blame, it
    says so. A write that failed without a path (stdout, a pipe) is named as the output."""
    words = exc.strerror or str(exc)
    hint = OS_ERROR_HINTS.get(exc.errno or 0)
    if exc.filename is None:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG):
            return f"writing the output: {words}" + (f" ({hint})" if hint else "")
        return words
    path = os.fsdecode(exc.filename)
    shown = path if len(path) <= 120 else f"{path[:60]}...{path[-40:]} ({len(path)} characters)"
    home = os.environ.get("HRM_HOME")
    if home and exc.errno in (errno.ENOTDIR, errno.EEXIST) and (
            path == home or path.startswith(home.rstrip("/") + "/")):
        hint = f"HRM_HOME ({home}) must be a folder, or unset"
    return f"{shown}: {words}" + (f" ({hint})" if hint else "")

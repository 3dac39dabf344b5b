"""Exit codes and the mapping from library errors to one-line messages."""

from __future__ import annotations

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
    if isinstance(exc, (FileNotFoundError, IsADirectoryError, PermissionError)):
        return f"{exc.filename}: {exc.strerror}"
    return None

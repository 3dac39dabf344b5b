"""The task table: every puzzle task hrm knows, by name, and where its `Task` lives.

Everything about a task (reading, tokens, rules, builders, generators, recipe defaults,
standard dataset, ...) is on its `Task` subclass, one module per task. This table names
them. It imports nothing heavy: command modules build their click choices from it, and
`hrm --help` must stay fast, so a task's module is imported only when the task is used
(`hrm.datasets.tasks.get_task`).

Adding a task: write its module (a `Task` subclass, see `hrm.datasets.tasks`) and add one
line here. `register_task` adds one at run time (tests, plugins).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from importlib import import_module
from typing import Any, overload

TaskHook = str | Callable[[], Any]
"""Where a task's `Task` comes from: "module:Class", or a callable returning the `Task`
(a class or a factory)."""

TASK_TABLE: dict[str, TaskHook] = {
    "sudoku": "hrm.datasets.sudoku_task:SudokuTask",
    "maze": "hrm.datasets.maze_task:MazeTask",
    "arc": "hrm.datasets.arc_task:ArcTask",
}


class _TaskNames(Sequence[str]):
    """The table's task names, read at each use, so click choices built at import time
    still list a task registered later."""

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...

    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        return tuple(TASK_TABLE)[index]

    def __len__(self) -> int:
        return len(TASK_TABLE)

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(TASK_TABLE))

    def __contains__(self, name: object) -> bool:
        return name in TASK_TABLE

    def __repr__(self) -> str:
        return repr(tuple(TASK_TABLE))


TASK_NAMES: Sequence[str] = _TaskNames()
"""Every task name, in table order (a live view of `TASK_TABLE`)."""


def register_task(name: str, hook: TaskHook) -> None:
    """Add (or replace) task `name`; `hook` as in `TASK_TABLE`."""
    TASK_TABLE[name] = hook
    _loaded.pop(name, None)


def unregister_task(name: str) -> None:
    """Remove task `name` (KeyError when unknown)."""
    del TASK_TABLE[name]
    _loaded.pop(name, None)


_loaded: dict[str, Any] = {}


def load_task(name: str) -> Any:
    """The `Task` of `name`, made on first use (KeyError when the table lacks it)."""
    if name not in _loaded:
        hook = TASK_TABLE[name]
        if isinstance(hook, str):
            module, _, attribute = hook.partition(":")
            hook = getattr(import_module(module), attribute)
        _loaded[name] = hook()
    return _loaded[name]


__all__ = ["TASK_NAMES", "TASK_TABLE", "TaskHook", "load_task", "register_task",
           "unregister_task"]

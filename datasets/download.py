"""Resumable, verified downloads and safe zip extraction, for datasets and models alike.

A download streams into ``<dest>.part`` next to its destination, resumes with an HTTP Range
request after an interruption (a dropped connection, Ctrl-C, a crash), is checked against the
expected size and sha256 when they are known, and only then is renamed into place. So a file
at `dest` is always whole and verified; a ``.part`` file is the only trace a failure leaves,
and it is exactly what the next attempt resumes from.

Canonical URLs (``https://huggingface.co/...``, ``https://github.com/...``) can be redirected
to a mirror or a local test server with ``HRM_HF_ENDPOINT`` and ``HRM_GITHUB_ENDPOINT``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import stat
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from hrm.datasets.cache import ENV_OFFLINE, offline
from hrm.datasets.errors import DownloadError, OfflineError

if TYPE_CHECKING:
    import requests
    from rich.progress import Progress, TaskID

log = logging.getLogger(__name__)

# Canonical URL prefix -> environment variable that replaces it (mirrors, local test servers).
ENDPOINT_ENV: dict[str, str] = {
    "https://huggingface.co": "HRM_HF_ENDPOINT",
    "https://github.com": "HRM_GITHUB_ENDPOINT",
}

DEFAULT_RETRIES = 4
DEFAULT_TIMEOUT: tuple[float, float] = (15.0, 60.0)  # (connect, read) seconds
RETRY_BACKOFF_S = 1.0  # first pause between attempts; doubles each time
CHUNK_SIZE = 1 << 20
PART_SUFFIX = ".part"
# Statuses worth another try: the server is busy or briefly broken, not the request wrong.
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RemoteFile:
    """One file to download: where from, the name it gets, and what it must look like.

    `size` (bytes) and `sha256` (hex) are checked when given; when the size is unknown the
    server's Content-Length is checked instead.
    """

    url: str
    filename: str
    size: int | None = None
    sha256: str | None = None


class UnsafeArchiveError(DownloadError):
    """An archive member would land outside the target folder (absolute, '..', symlink)."""


def resolve_url(url: str) -> str:
    """`url` with its host replaced by the mirror set in the matching endpoint variable."""
    for prefix, variable in ENDPOINT_ENV.items():
        endpoint = os.environ.get(variable, "").strip().rstrip("/")
        if endpoint and (url == prefix or url.startswith(prefix + "/")):
            return endpoint + url[len(prefix) :]
    return url


def partial_path(dest: Path) -> Path:
    """Where the unfinished download of `dest` lives (and is resumed from)."""
    dest = Path(dest)
    return dest.with_name(dest.name + PART_SUFFIX)


def require_online(what: str) -> None:
    """Raise OfflineError naming `what` when HRM_OFFLINE forbids the network."""
    if offline():
        raise OfflineError(
            f"{what} needs the network, but {ENV_OFFLINE}={os.environ.get(ENV_OFFLINE)} "
            f"forbids it; unset {ENV_OFFLINE} (or set it to 0) to allow downloads"
        )


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks so large files need little memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK_SIZE), b""):
            digest.update(block)
    return digest.hexdigest()


def download(
    url: str,
    dest: Path,
    *,
    size: int | None = None,
    sha256: str | None = None,
    quiet: bool = False,
    retries: int = DEFAULT_RETRIES,
    timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
    description: str | None = None,
    session: requests.Session | None = None,
) -> Path:
    """Download `url` to `dest`, resuming any earlier ``.part`` file; return `dest`.

    `dest` appears only once the whole file arrived and matched `size`/`sha256`. Connection
    errors, timeouts and 5xx answers are retried `retries` times in all, with exponential
    backoff, each retry resuming where the last one stopped. A checksum mismatch deletes
    the download. Raises DownloadError (OfflineError when HRM_OFFLINE is set).
    """
    url = resolve_url(url)
    dest = Path(dest)
    require_online(f"downloading {url} to {dest}")
    import requests

    dest.parent.mkdir(parents=True, exist_ok=True)
    part = partial_path(dest)
    expected_sha = sha256.lower() if sha256 else None
    own_session = session is None
    http = session if session is not None else requests.Session()
    try:
        with _progress_bar(quiet) as progress:
            task = progress.add_task(description or dest.name, total=size)
            _download_with_retries(http, url, part, size, timeout, retries, progress, task)
    finally:
        if own_session:
            http.close()
    _verify(part, url, size, expected_sha)
    os.replace(part, dest)
    return dest


class _RetryableError(Exception):
    """A failure that another attempt, resuming from the .part file, may get past."""


def _download_with_retries(
    http: requests.Session,
    url: str,
    part: Path,
    size: int | None,
    timeout: float | tuple[float, float],
    retries: int,
    progress: Progress,
    task: TaskID,
) -> None:
    attempts = max(1, retries)
    for attempt in range(1, attempts + 1):
        try:
            _fetch_into(http, url, part, size, timeout, progress, task)
            return
        except _RetryableError as exc:
            if attempt == attempts:
                plural = "s" if attempts > 1 else ""
                if part.exists():
                    advice = f"the partial file {part} is kept: run the command again to resume"
                else:
                    advice = "check the connection and run the command again"
                raise DownloadError(
                    f"could not download {url}: {exc} (gave up after {attempts} "
                    f"attempt{plural}); {advice}"
                ) from exc
            delay = RETRY_BACKOFF_S * 2 ** (attempt - 1)
            log.warning("%s: %s; retrying in %.1f s", url, exc, delay)
            time.sleep(delay)


def _fetch_into(
    http: requests.Session,
    url: str,
    part: Path,
    size: int | None,
    timeout: float | tuple[float, float],
    progress: Progress,
    task: TaskID,
    *,
    allow_restart: bool = True,
) -> None:
    """One HTTP request that appends to (or restarts) `part`; returns once it is whole."""
    import requests
    import urllib3

    offset = part.stat().st_size if part.exists() else 0
    if size is not None and offset > size:
        part.unlink()  # longer than the file can be: not a prefix of it
        offset = 0
    if size is not None and offset == size and part.exists():
        progress.update(task, completed=offset)
        return  # whole already (interrupted just before verification)

    headers = {"Accept-Encoding": "identity"}  # byte offsets must be of the stored bytes
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        response = http.get(url, headers=headers, stream=True, timeout=timeout)
    except requests.RequestException as exc:
        raise _RetryableError(_describe(exc)) from exc

    with response:
        status = response.status_code
        if status == 416 and offset:
            total = _content_range_total(response.headers.get("Content-Range", ""))
            if total == offset:
                return  # the .part already holds the whole file
            if allow_restart:
                response.close()
                part.unlink(missing_ok=True)
                return _fetch_into(
                    http, url, part, size, timeout, progress, task, allow_restart=False
                )
        if status in RETRY_STATUSES:
            raise _RetryableError(f"HTTP {status} {response.reason or ''}".strip())
        if status not in (200, 206):
            raise DownloadError(
                f"could not download {url}: HTTP {status} {response.reason or ''}".rstrip()
            )

        if status == 206:
            start, total = _parse_content_range(response.headers.get("Content-Range", ""))
            if start != offset:
                if not allow_restart:
                    raise _RetryableError(f"server resumed at byte {start}, not {offset}")
                response.close()
                part.unlink(missing_ok=True)
                return _fetch_into(
                    http, url, part, size, timeout, progress, task, allow_restart=False
                )
            mode = "ab"
        else:
            if offset:
                log.info("%s: server does not support resuming; starting over", url)
            offset, mode = 0, "wb"
            total = _int_or_none(response.headers.get("Content-Length"))

        if size is not None and total is not None and total != size:
            part.unlink(missing_ok=True)
            raise DownloadError(
                f"{url}: the server offers {total} bytes but {size} were "
                "expected; nothing was cached"
            )
        expected = total if total is not None else size
        progress.update(task, total=expected, completed=offset)
        written = offset
        try:
            with open(part, mode) as handle:
                for chunk in _body_chunks(response):
                    handle.write(chunk)
                    written += len(chunk)
                    progress.advance(task, len(chunk))
        except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
            raise _RetryableError(_describe(exc)) from exc

    if expected is not None and written < expected:
        raise _RetryableError(f"connection closed after {written} of {expected} bytes")
    if expected is not None and written > expected:
        part.unlink(missing_ok=True)
        raise DownloadError(
            f"{url}: received {written} bytes, more than the {expected} "
            "announced; nothing was cached"
        )


def _body_chunks(response: requests.Response) -> Iterator[bytes]:
    """The body as it arrives, so every byte received before a cut reaches the .part file.

    ``iter_content`` fills whole chunks and drops a partly filled one when the connection
    breaks; urllib3's ``read1`` returns what is there. Older urllib3 lacks it: smaller chunks.
    """
    raw = response.raw
    if hasattr(raw, "read1"):
        while chunk := raw.read1(CHUNK_SIZE, decode_content=True):
            yield chunk
    else:
        yield from response.iter_content(64 * 1024)


def _verify(part: Path, url: str, size: int | None, sha256: str | None) -> None:
    """Check the finished .part; on a mismatch delete it, so nothing bad is cached or resumed."""
    actual_size = part.stat().st_size
    if size is not None and actual_size != size:
        part.unlink(missing_ok=True)
        raise DownloadError(
            f"{url}: got {actual_size} bytes, expected {size}; the download "
            "was deleted and nothing was cached"
        )
    if sha256 is not None:
        actual = sha256_file(part)
        if actual != sha256:
            part.unlink(missing_ok=True)
            raise DownloadError(
                f"checksum mismatch for {url}: expected sha256 {sha256}, got {actual}; "
                "the download was deleted and nothing was cached (try again; if it "
                "persists, the file on the server has changed)"
            )


_CONTENT_RANGE_RE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


def _parse_content_range(value: str) -> tuple[int | None, int | None]:
    """(first byte, total size) of a 206 answer's Content-Range; Nones if unreadable."""
    match = _CONTENT_RANGE_RE.match(value.strip())
    if not match:
        return None, None
    total = None if match.group(3) == "*" else int(match.group(3))
    return int(match.group(1)), total


def _content_range_total(value: str) -> int | None:
    """The total size in a 416 answer's ``Content-Range: bytes */N``."""
    match = re.match(r"bytes\s+\*/(\d+)", value.strip())
    return int(match.group(1)) if match else None


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
    )


# --- archives -----------------------------------------------------------------------------


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


def extract_zip(archive: Path, target: Path, *, strip_top_level: bool = True) -> None:
    """Extract `archive` into the existing folder `target`, refusing unsafe members.

    Every member is checked before anything is written, so a malicious archive leaves
    nothing behind. With `strip_top_level`, a single folder that holds everything (as in
    GitHub's ``<repo>-<branch>/`` archives) is dropped from the paths.
    """
    archive, target = Path(archive), Path(target)
    try:
        with zipfile.ZipFile(archive) as zf:
            members = [(info, _member_parts(archive, info)) for info in zf.infolist()]
            members = [(info, parts) for info, parts in members if parts]
            tops = {parts[0] for _, parts in members}
            strip = strip_top_level and len(tops) == 1 and any(len(p) > 1 for _, p in members)
            root = target.resolve()
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
                    shutil.copyfileobj(src, dst, CHUNK_SIZE)
    except zipfile.BadZipFile as exc:
        raise DownloadError(f"{archive} is not a valid zip archive ({exc})") from exc


__all__ = [
    "DEFAULT_RETRIES",
    "DEFAULT_TIMEOUT",
    "ENDPOINT_ENV",
    "RemoteFile",
    "UnsafeArchiveError",
    "download",
    "extract_zip",
    "partial_path",
    "require_online",
    "resolve_url",
    "sha256_file",
]

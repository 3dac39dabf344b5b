"""A fake Hugging Face hub and a hostile web server, both real HTTP on 127.0.0.1.

`FakeHub` answers the routes huggingface_hub uses to download a file, as the real hub does:
``HEAD``/``GET /{datasets/}{repo}/resolve/{revision}/{filename}`` with ``X-Repo-Commit``,
``ETag`` and, for LFS files, a redirect to a CDN path with ``X-Linked-Etag`` (the sha256)
and ``X-Linked-Size``. Ranges are honoured, so huggingface_hub's resume works.

Any path can instead be given a hostile behaviour (`Hostile`): a web page with status 200,
an endless body, a body dripped a byte at a time, a body cut short of its Content-Length,
a redirect loop. Every request is recorded (method, path, headers).
"""

from __future__ import annotations

import hashlib
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORTAL_PAGE = (b"<!DOCTYPE html><html><head><title>Welcome to Airport WiFi</title></head>"
               b"<body>Please accept the terms to continue.</body></html>\n")


@dataclass
class Hostile:
    """One misbehaviour. `kind`: html, endless, drip, short, redirect_loop, status, bytes."""

    kind: str
    data: bytes = b""  # the body for "bytes" and "short"; the first bytes for "drip"
    interval_s: float = 0.2  # "drip": seconds between bytes
    status: int = 200
    content_type: str = "application/zip"
    declared: int | None = None  # "short": the Content-Length announced


@dataclass
class HubFile:
    data: bytes
    lfs: bool
    cuts_left: int = 0  # cut the GET body after `cut_after` bytes this many times
    cut_after: int = 0
    delay_s: float = 0.0  # wait this long before sending a GET body (to make races overlap)
    claimed_sha256: str | None = None  # a hub that lies about the file's sha256


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)


def commit_of(repo: str) -> str:
    return hashlib.sha1(repo.encode()).hexdigest()


class _Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        # A client that stops reading (a download that refuses a web page) may close the
        # socket mid-reply: that is the client's right, not a server error to print into
        # the stderr a test reads. Anything else is still reported.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeHub:
    """``with FakeHub() as hub: hub.add_file("dataset", "owner/x", "train.csv", data)``."""

    def __init__(self) -> None:
        self.files: dict[tuple[str, str, str], HubFile] = {}
        self.hostile: dict[str, Hostile] = {}
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.owner = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def add_file(self, repo_type: str, repo: str, filename: str, data: bytes, *,
                 lfs: bool = True, cut_after: int = 0, cuts: int = 0, delay_s: float = 0.0,
                 claimed_sha256: str | None = None) -> None:
        self.files[(repo_type, repo, filename)] = HubFile(data, lfs, cuts, cut_after, delay_s,
                                                          claimed_sha256)

    def add_hostile(self, path: str, behaviour: Hostile) -> None:
        self.hostile[path] = behaviour

    def hits(self, fragment: str, method: str = "GET") -> list[Request]:
        with self._lock:
            return [r for r in self.requests if fragment in r.path and r.method == method]

    def __enter__(self) -> FakeHub:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


_RESOLVE = re.compile(r"/(?:(datasets|spaces)/)?([^/]+/[^/]+)/resolve/([^/]+)/(.+)")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    @property
    def hub(self) -> FakeHub:
        return self.server.owner  # type: ignore[attr-defined]

    def do_HEAD(self) -> None:
        self._answer(head=True)

    def do_GET(self) -> None:
        self._answer(head=False)

    def _answer(self, head: bool) -> None:
        path = self.path.split("?", 1)[0]
        with self.hub._lock:
            self.hub.requests.append(Request(self.command, path, dict(self.headers.items())))
        if path in self.hub.hostile:
            self._hostile(self.hub.hostile[path], head)
            return
        if path.startswith("/cdn/"):
            self._cdn(path[len("/cdn/"):], head)
            return
        if match := _RESOLVE.fullmatch(path):
            repo_type = {"datasets": "dataset", "spaces": "space"}.get(match.group(1) or "",
                                                                       "model")
            self._resolve(repo_type, match.group(2), match.group(3), match.group(4), head)
            return
        self._send(404, b"not found\n", {"X-Error-Code": "EntryNotFound"}, head)

    # --- the hub -------------------------------------------------------------------------

    def _resolve(self, repo_type: str, repo: str, revision: str, filename: str,
                 head: bool) -> None:
        found = self.hub.files.get((repo_type, repo, filename))
        commit = commit_of(repo)
        if revision not in ("main", commit):
            self._send(404, b"", {"X-Error-Code": "RevisionNotFound"}, head)
            return
        if found is None:
            known = any(key[:2] == (repo_type, repo) for key in self.hub.files)
            code = "EntryNotFound" if known else "RepoNotFound"
            self._send(404, b"not found\n", {"X-Error-Code": code, "X-Repo-Commit": commit}
                       if known else {"X-Error-Code": code}, head)
            return
        sha256 = found.claimed_sha256 or hashlib.sha256(found.data).hexdigest()
        if found.lfs:  # as the hub: LFS files redirect to a CDN, their sha256 in the headers
            # Another host name for the same server: huggingface_hub reads the metadata of
            # a redirect that leaves the hub's host, and follows one that stays on it.
            port = self.server.server_address[1]
            cdn = f"http://localhost:{port}/cdn/{sha256}"
            self._send(302, b"", {"Location": cdn, "X-Repo-Commit": commit,
                                  "X-Linked-Etag": f'"{sha256}"',
                                  "X-Linked-Size": str(len(found.data)),
                                  "ETag": f'"{hashlib.sha1(found.data).hexdigest()}"'}, head)
            return
        self._data(found, {"X-Repo-Commit": commit,
                           "ETag": f'"{hashlib.sha1(found.data).hexdigest()}"'}, head)

    def _cdn(self, sha256: str, head: bool) -> None:
        for found in self.hub.files.values():
            if (found.claimed_sha256 or hashlib.sha256(found.data).hexdigest()) == sha256:
                self._data(found, {"ETag": f'"{sha256}"'}, head)
                return
        self._send(404, b"", {}, head)

    def _data(self, found: HubFile, headers: dict[str, str], head: bool) -> None:
        data, start, status = found.data, 0, 200
        headers = {**headers, "Accept-Ranges": "bytes",
                   "Content-Type": "application/octet-stream"}
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if match and not head:
            start = int(match.group(1))
            status = 206
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        body = data[start:]
        if not head and found.delay_s:
            time.sleep(found.delay_s)
        if not head and found.cuts_left > 0:
            found.cuts_left -= 1
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: found.cut_after])
            self.wfile.flush()
            self.close_connection = True
            return
        self._send(status, body, headers, head)

    # --- hostile -------------------------------------------------------------------------

    def _hostile(self, behaviour: Hostile, head: bool) -> None:
        kind = behaviour.kind
        if kind == "html":
            self._send(200, PORTAL_PAGE, {"Content-Type": "text/html; charset=utf-8"}, head)
        elif kind == "status":
            self._send(behaviour.status, b"error\n", {}, head)
        elif kind == "bytes":
            self._send(200, behaviour.data, {"Content-Type": behaviour.content_type}, head)
        elif kind == "redirect_loop":
            self._send(302, b"", {"Location": self.path}, head)
        elif kind in ("endless", "drip", "short"):
            self.send_response(200)
            self.send_header("Content-Type", behaviour.content_type)
            if kind == "short":
                self.send_header("Content-Length", str(behaviour.declared))
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            if head:
                return
            try:
                if kind == "short":
                    self.wfile.write(behaviour.data)
                elif kind == "endless":
                    block = b"PK\x03\x04" + b"\0" * (64 * 1024 - 4)
                    while True:
                        self.wfile.write(block)
                else:
                    for byte in (behaviour.data or b"PK\x03\x04" * 100):
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(behaviour.interval_s)
            except OSError:
                pass  # the client gave up, as it should
        else:
            raise ValueError(kind)

    def _send(self, status: int, body: bytes, headers: dict[str, str], head: bool) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

"""A small threaded HTTP server on 127.0.0.1 for download tests.

It serves real bytes over real sockets, so the download code is tested exactly as it runs
against Hugging Face or GitHub, without mocks and without the internet. Each route can
simulate one fault: a connection cut after N bytes (for the first K requests), a server that
ignores Range headers, an error status, or a redirect (as Hugging Face redirects to its CDN).
Every request is recorded (path and headers) so tests can check what the client asked for.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    data: bytes = b""
    status: int | None = None  # answer this status (e.g. 404) instead of the data
    redirect_to: str | None = None  # answer 302 to this path
    ignore_range: bool = False  # always answer 200 with the whole body
    cut_after: int | None = None  # send only this many body bytes, then close
    cuts_left: int = 1  # how many requests are cut before the server behaves


@dataclass
class Request:
    path: str
    headers: dict[str, str] = field(default_factory=dict)


class LocalServer:
    """``with LocalServer() as server: server.add("/f.csv", b"...")``; ``server.url("/f.csv")``."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.owner = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def add(self, path: str, data: bytes = b"", **behaviour) -> Route:
        route = Route(data=data, **behaviour)
        self.routes[path] = route
        return route

    def requests_for(self, path: str) -> list[Request]:
        with self._lock:
            return [request for request in self.requests if request.path == path]

    def __enter__(self) -> LocalServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.0: one request per connection, so closing early is seen as a cut body.
    protocol_version = "HTTP/1.0"

    def log_message(self, format, *args) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        owner: LocalServer = self.server.owner  # type: ignore[attr-defined]
        path = self.path.split("?", 1)[0]
        with owner._lock:
            owner.requests.append(Request(path, dict(self.headers.items())))
        route = owner.routes.get(path)
        if route is None or route.status is not None:
            status = 404 if route is None else route.status
            self._send(status, b"no such file\n" if status == 404 else b"error\n")
            return
        if route.redirect_to is not None:
            self.send_response(302)
            self.send_header("Location", route.redirect_to)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self._send_data(route)

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send_data(self, route: Route) -> None:
        data, size = route.data, len(route.data)
        start, status, headers = 0, 200, {"Accept-Ranges": "bytes"}
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
        if match and not route.ignore_range:
            start = int(match.group(1))
            if start >= size:
                self._send(416, b"", {"Content-Range": f"bytes */{size}"})
                return
            status = 206
            headers["Content-Range"] = f"bytes {start}-{size - 1}/{size}"
        body = data[start:]
        if route.cut_after is not None and route.cuts_left > 0:
            route.cuts_left -= 1
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: route.cut_after])
            self.wfile.flush()
            self.close_connection = True  # the socket closes with the body unfinished
            return
        self._send(status, body, headers)

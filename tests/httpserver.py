"""A real HTTP server on loopback for tests: routes map a path to a canned or computed response.

    server.route("/feed.xml", body=b"...", headers={"Content-Type": "application/rss+xml"})
    server.route("/dyn", handler=lambda req: Response(304))
    url = server.url("/feed.xml")

Each request is recorded (method, path, headers) in ``server.requests`` so tests can check what the
client sent (conditional GET headers, User-Agent, ...).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # sleep before answering (headers and body)
    body_delay_s: float = 0.0  # sleep after the headers, before the body
    chunks: list[bytes] | None = None  # sent with Transfer-Encoding: chunked when given
    chunk_delay_s: float = 0.0


Handler = Callable[[Request], Response]


class LoopbackServer:
    def __init__(self) -> None:
        self.routes: dict[str, Handler] = {}
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        outer = self

        class _H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def handle(self) -> None:
                # the client may hang up (a cap or a timeout on its side): nothing to report
                with contextlib.suppress(ConnectionResetError, BrokenPipeError, TimeoutError):
                    super().handle()

            def do_GET(self) -> None:
                self._serve(send_body=True)

            def do_HEAD(self) -> None:
                self._serve(send_body=False)

            def _serve(self, send_body: bool) -> None:
                req = Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()})
                with outer._lock:
                    outer.requests.append(req)
                path = self.path.split("?", 1)[0]
                handler = outer.routes.get(self.path) or outer.routes.get(path)
                resp = handler(req) if handler else Response(404, b"not found")
                try:
                    self._send(resp, send_body)
                except (BrokenPipeError, ConnectionResetError, TimeoutError):
                    self.close_connection = True

            def _send(self, resp: Response, send_body: bool) -> None:
                if resp.delay_s:
                    time.sleep(resp.delay_s)
                self.send_response(resp.status)
                names = {k.lower() for k in resp.headers}
                for k, v in resp.headers.items():
                    self.send_header(k, v)
                if resp.chunks is not None:
                    self.send_header("Transfer-Encoding", "chunked")
                elif "content-length" not in names:
                    self.send_header("Content-Length", str(len(resp.body)))
                self.end_headers()
                if not send_body or resp.status == 304:
                    return
                if resp.body_delay_s:
                    self.wfile.flush()
                    time.sleep(resp.body_delay_s)
                if resp.chunks is not None:
                    for chunk in resp.chunks:
                        self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                        self.wfile.flush()
                        if resp.chunk_delay_s:
                            time.sleep(resp.chunk_delay_s)
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    self.wfile.write(resp.body)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _H)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def route(
        self,
        path: str,
        body: bytes | str = b"",
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        handler: Handler | None = None,
        **kw: object,
    ) -> None:
        if handler is None:
            data = body.encode() if isinstance(body, str) else body
            resp = Response(status=status, body=data, headers=dict(headers or {}), **kw)  # type: ignore[arg-type]

            def handler(_req: Request, _resp: Response = resp) -> Response:
                return _resp

        self.routes[path] = handler

    def requests_to(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path.split("?", 1)[0] == path]

    def start(self) -> LoopbackServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@contextmanager
def serve() -> Iterator[LoopbackServer]:
    server = LoopbackServer().start()
    try:
        yield server
    finally:
        server.stop()

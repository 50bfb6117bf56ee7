"""What the local fake cloud servers share (the Azure sample tenant, the fake Google APIs).

Used by the tests and the demo only; the adapters never import it.
"""

from __future__ import annotations

import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class AnyMethodHandler(BaseHTTPRequestHandler):
    """Sends every HTTP method, writes included, to :meth:`dispatch`, so a fake can record a
    write and refuse it instead of the client seeing a bare 501 from ``http.server``."""

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        pass

    def dispatch(self, method: str) -> None:
        raise NotImplementedError

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        self.dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self.dispatch("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self.dispatch("PUT")

    def do_PATCH(self) -> None:  # noqa: N802
        self.dispatch("PATCH")

    def do_DELETE(self) -> None:  # noqa: N802
        self.dispatch("DELETE")


class LocalServer:
    """Start / stop / context-manager lifecycle of a threaded server on 127.0.0.1.

    Subclasses implement ``start`` (build their handler, call :meth:`_serve`, return self) and may
    extend ``stop`` to clean up more.
    """

    _server: ThreadingHTTPServer | None = None

    def _serve(self, handler: type[BaseHTTPRequestHandler], *, name: str,
               context: ssl.SSLContext | None = None) -> int:
        """Serve ``handler`` on a free port (TLS when ``context`` is given) in a daemon thread; the port."""
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        if context is not None:
            server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        threading.Thread(target=server.serve_forever, name=name, daemon=True).start()
        return server.server_address[1]

    def start(self) -> Any:
        raise NotImplementedError

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

"""A loopback TCP proxy that injects Modbus TCP faults between a client and a server (tests only).

The proxy listens on 127.0.0.1 (port 0 = a free port) and forwards each client connection to the
upstream server. Requests pass unchanged; replies are read frame by frame (MBAP header + length) so
that a fault hits whole replies:

- ``delay(s)``: every reply is held back by ``s`` seconds;
- ``drop(n)``: the next ``n`` replies are swallowed (the client sees silence);
- ``reset(n)``: at the next reply the client connection is reset (RST, SO_LINGER 0), ``n`` times;
- ``exception(code, n)``: the next ``n`` replies are replaced by Modbus exception ``code``;
- ``rewrite(fn, n)``: the next ``n`` reply PDUs are replaced by ``fn(pdu)``;
- ``transaction(tid, n)``: the next ``n`` replies carry transaction id ``tid`` instead of the request's;
- ``on_reply(function, count, action)``: ``action()`` runs when the ``count``-th reply to function code
  ``function`` arrives, before that reply is forwarded, so a fault it sets hits that very reply (a
  fault in the middle of a run, at a known step).

When the upstream server is down, client connections are closed at once (the client sees a reset).
Start/stop like the device server; the proxy runs its own event loop in a thread.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from collections.abc import Callable


class FaultProxy:
    """See module docstring."""

    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1"):
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self.replies = 0
        self.connections = 0
        self.injected: list[str] = []
        self._lock = threading.Lock()
        self._delay = 0.0
        self._drop = 0
        self._reset = 0
        self._exception: tuple[int, int] = (0, 0)
        self._rewrite: tuple[Callable[[bytes], bytes] | None, int] = (None, 0)
        self._tid: tuple[int, int] = (0, 0)
        self._function_replies: dict[int, int] = {}
        self._actions: list[tuple[int, int, Callable[[], None]]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    # --------------------------------------------------------------- fault controls

    def delay(self, seconds: float) -> None:
        """Hold every reply back by ``seconds`` (0 to stop)."""
        with self._lock:
            self._delay = seconds

    def drop(self, n: int = 1) -> None:
        """Swallow the next ``n`` replies."""
        with self._lock:
            self._drop = n

    def reset(self, n: int = 1) -> None:
        """Reset the client connection at each of the next ``n`` replies."""
        with self._lock:
            self._reset = n

    def exception(self, code: int, n: int = 1) -> None:
        """Answer the next ``n`` requests with exception ``code`` instead of the real reply."""
        with self._lock:
            self._exception = (code, n)

    def rewrite(self, fn: Callable[[bytes], bytes], n: int = 1) -> None:
        """Replace the next ``n`` reply PDUs by ``fn(pdu)``."""
        with self._lock:
            self._rewrite = (fn, n)

    def transaction(self, tid: int, n: int = 1) -> None:
        """Give the next ``n`` replies the transaction id ``tid``."""
        with self._lock:
            self._tid = (tid, n)

    def on_reply(self, function: int, count: int, action: Callable[[], None]) -> None:
        """Run ``action()`` when the ``count``-th reply (1-based) to function code ``function`` arrives."""
        with self._lock:
            self._actions.append((function, count, action))

    def clear(self) -> None:
        """No more faults."""
        with self._lock:
            self._delay, self._drop, self._reset = 0.0, 0, 0
            self._exception, self._rewrite, self._tid = (0, 0), (None, 0), (0, 0)

    # --------------------------------------------------------------- life cycle

    def start(self) -> FaultProxy:
        """Listen on 127.0.0.1 and start forwarding."""
        self._thread = threading.Thread(target=self._run, name="fault-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(5.0):
            raise TimeoutError("fault proxy did not start")
        return self

    def stop(self) -> None:
        """Close every connection and join the thread."""
        if self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5.0)
        if self._thread.is_alive():
            raise TimeoutError("fault proxy did not stop")
        self._thread = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._main())
        finally:
            self._loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        await self._stop.wait()
        server.close()
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    # --------------------------------------------------------------- forwarding

    def _take(self) -> tuple[float, str | None, object]:
        with self._lock:
            if self._drop:
                self._drop -= 1
                return self._delay, "drop", None
            if self._reset:
                self._reset -= 1
                return self._delay, "reset", None
            code, n = self._exception
            if n:
                self._exception = (code, n - 1)
                return self._delay, "exception", code
            fn, n = self._rewrite
            if n:
                self._rewrite = (fn, n - 1)
                return self._delay, "rewrite", fn
            tid, n = self._tid
            if n:
                self._tid = (tid, n - 1)
                return self._delay, "transaction", tid
            return self._delay, None, None

    def _fire(self, function: int) -> None:
        with self._lock:
            count = self._function_replies[function] = self._function_replies.get(function, 0) + 1
            due = [a for a in self._actions if a[:2] == (function, count)]
            self._actions = [a for a in self._actions if a[:2] != (function, count)]
        for _, _, action in due:
            action()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            _abort(writer)
            return
        pump = asyncio.ensure_future(self._requests(reader, up_writer))
        try:
            while True:
                header = await up_reader.readexactly(7)
                length = struct.unpack(">H", header[4:6])[0]
                pdu = await up_reader.readexactly(length - 1)
                self.replies += 1
                self._fire(pdu[0] & 0x7F)
                delay, fault, arg = self._take()
                if delay:
                    await asyncio.sleep(delay)
                if fault:
                    self.injected.append(fault)
                if fault == "drop":
                    continue
                if fault == "reset":
                    _abort(writer)
                    break
                if fault == "exception":
                    pdu = bytes([pdu[0] | 0x80, arg])
                elif fault == "rewrite":
                    pdu = arg(pdu)
                elif fault == "transaction":
                    header = struct.pack(">H", arg) + header[2:]
                writer.write(header[:4] + struct.pack(">H", len(pdu) + 1) + header[6:7] + pdu)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, OSError, asyncio.CancelledError):
            pass
        finally:
            pump.cancel()
            up_writer.close()
            writer.close()

    async def _requests(self, reader: asyncio.StreamReader, up_writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(4096):
                up_writer.write(data)
                await up_writer.drain()
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass
        finally:
            up_writer.close()


def _abort(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()

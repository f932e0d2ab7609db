"""A TCP proxy on loopback that resets connections: the first K mid-handshake, then some at
random moments.  It runs its own event loop in a thread, so the test process stays free.

A reset is a real RST (``SO_LINGER`` 0, then abort) sent both ways: the client sees
``Connection reset by peer``, and sshd drops the session as on a network failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import threading
import time
from dataclasses import dataclass, field


@dataclass
class ResetProxy:
    """Forwards 127.0.0.1:<port> to 127.0.0.1:``target``.

    Connection i < ``handshake_resets`` is cut after a seeded number of bytes (0 to 3000,
    both directions: within the SSH handshake); later ones, while ``resets`` remain,
    are cut with probability ``chance`` at a seeded moment within ``window`` seconds.
    """

    target: int
    rng: random.Random
    handshake_resets: int = 2
    resets: int = 2
    chance: float = 0.6
    window: tuple[float, float] = (0.3, 2.5)
    port: int = 0
    connections: int = 0
    done_resets: int = 0
    reset_times: list[float] = field(default_factory=list)
    """CLOCK_BOOTTIME of each reset."""
    log: list[str] = field(default_factory=list)
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _server: asyncio.Server | None = None

    def start(self) -> int:
        ready = threading.Event()

        def main() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._server = loop.run_until_complete(
                asyncio.start_server(self._handle, "127.0.0.1", 0)
            )
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=main, name="reset-proxy", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the reset proxy did not start")
        return self.port

    def stop(self) -> None:
        loop = self._loop
        if loop is None or self._thread is None:
            return

        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        with contextlib.suppress(RuntimeError):
            asyncio.run_coroutine_threadsafe(close(), loop).result(5)
            loop.call_soon_threadsafe(loop.stop)
        self._thread.join(5)

    def _plan(self, index: int) -> tuple[str, float] | None:
        if index < self.handshake_resets:
            return ("bytes", float(self.rng.randint(0, 3000)))
        if self.resets > 0 and self.rng.random() < self.chance:
            self.resets -= 1
            return ("time", self.rng.uniform(*self.window))
        return None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        index = self.connections
        self.connections += 1
        plan = self._plan(index)
        cut = asyncio.Event()
        if plan is not None and plan[0] == "bytes" and plan[1] == 0:
            cut.set()
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError as exc:
            self.log.append(f"#{index}: upstream refused: {exc}")
            writer.close()
            return
        budget = [plan[1]] if plan is not None and plan[0] == "bytes" else None

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            while not cut.is_set():
                data = await src.read(65536)
                if not data:
                    return
                if budget is not None:
                    if len(data) >= budget[0]:
                        dst.write(data[: int(budget[0])])
                        cut.set()
                        return
                    budget[0] -= len(data)
                dst.write(data)
                await dst.drain()

        loop = asyncio.get_running_loop()
        timer = None
        if plan is not None and plan[0] == "time":
            timer = loop.call_later(plan[1], cut.set)
        pumps = [
            asyncio.ensure_future(pump(reader, up_writer)),
            asyncio.ensure_future(pump(up_reader, writer)),
        ]
        cutting = asyncio.ensure_future(cut.wait())
        try:
            await asyncio.wait([*pumps, cutting], return_when=asyncio.FIRST_COMPLETED)
        finally:
            if timer is not None:
                timer.cancel()
            for task in [*pumps, cutting]:
                task.cancel()
        if cut.is_set():
            _reset(writer)
            _reset(up_writer)
            self.done_resets += 1
            self.reset_times.append(time.clock_gettime(time.CLOCK_BOOTTIME))
            how = f" ({plan[0]} {plan[1]:.2f})" if plan is not None else ""
            self.log.append(f"#{index}: reset{how}")
        else:
            writer.close()
            up_writer.close()


def _reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    with contextlib.suppress(OSError):
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()

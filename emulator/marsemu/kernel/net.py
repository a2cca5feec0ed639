"""Framing shared by the emulator's TCP services: a JSON header plus an optional binary payload.

Frame: 4-byte big-endian header length, 4-byte payload length, header (UTF-8 JSON), payload.
"""

import asyncio
import contextlib
import json
import logging
import struct

_PREFIX = struct.Struct(">II")
MAX_HEADER = 64 * 1024 * 1024
MAX_PAYLOAD = 64 * 1024 * 1024
# With a timeout, a payload must arrive at least this much per timeout: the timeout catches a silent
# peer, not a slow link. At 1 MiB a 1 MiB frame needed 205 KiB/s with the 5 s default, and a fetch over
# a 256 KiB/s link under load timed out on every frame forever; 64 KiB asks for 13 KiB/s.
PROGRESS_STEP = 64 * 1024


async def send(writer, header, payload=b""):
    data = json.dumps(header, separators=(",", ":")).encode()
    writer.write(_PREFIX.pack(len(data), len(payload)) + data)
    if payload:
        writer.write(payload)
    await writer.drain()


async def recv(reader, timeout=None):
    """One frame as ``(header, payload)``; raises IncompleteReadError at EOF.

    ``timeout`` bounds the wait for the frame and for each ``PROGRESS_STEP`` of its payload.
    """
    async with asyncio.timeout(timeout):
        head_len, payload_len = _PREFIX.unpack(await reader.readexactly(_PREFIX.size))
        if head_len > MAX_HEADER or payload_len > MAX_PAYLOAD:
            raise ValueError("oversized frame (%d, %d)" % (head_len, payload_len))
        header = json.loads((await reader.readexactly(head_len)).decode())
    parts = []
    for start in range(0, payload_len, PROGRESS_STEP):
        async with asyncio.timeout(timeout):
            parts.append(await reader.readexactly(min(PROGRESS_STEP, payload_len - start)))
    return header, b"".join(parts)


async def wait_event(event, timeout):
    """Wait for ``event`` at most ``timeout`` seconds.

    ``asyncio.timeout`` rather than ``wait_for``: in Python 3.11 the latter can swallow a
    cancellation that races with the event, and the daemon would not stop on SIGTERM.
    """
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        pass


@contextlib.asynccontextmanager
async def connection(host, port, timeout=5.0, local_addr=None, limit=2 ** 16):
    """``(reader, writer)`` of a new connection, closed on leaving the block."""
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(host, port, local_addr=local_addr, limit=limit)
    try:
        yield reader, writer
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass


async def request(host, port, header, payload=b"", timeout=5.0, local_addr=None):
    """Connect, send one request, return the one answer, close."""
    async with connection(host, port, timeout, local_addr) as (reader, writer):
        async with asyncio.timeout(timeout):
            await send(writer, header, payload)
            return await recv(reader)


def close_quietly(writer):
    try:
        writer.close()
    except (OSError, RuntimeError):
        pass


class RequestServer:
    """One request, one answer, over a connection to ``kernel.port + PORT_OFFSET``.

    Subclasses answer a request header with ``(answer_header, payload)`` in ``answer()``, or
    override ``respond()`` to send any number of frames (a stream).
    """

    PORT_OFFSET = 0
    NAME = "request"

    def __init__(self, kernel):
        self.kernel = kernel
        self.server = None
        self.writers = set()  # open connections: streams end only when closed

    async def start(self):
        self.server = await asyncio.start_server(self._handle, self.kernel.listen_ip, self.kernel.port + self.PORT_OFFSET)

    async def stop(self):
        if self.server:
            self.server.close()
            for writer in list(self.writers):
                close_quietly(writer)
            await self.server.wait_closed()

    async def answer(self, header):
        raise NotImplementedError

    async def respond(self, header, reader, writer):
        del reader  # used by streams only
        answer, payload = await self.answer(header)
        answer["stamp"] = self.kernel.clock.now()
        await send(writer, answer, payload)

    async def _handle(self, reader, writer):
        self.writers.add(writer)
        try:
            while True:
                try:
                    header = (await recv(reader))[0]
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                await self.respond(header, reader, writer)
        except (OSError, ValueError) as exc:
            logging.getLogger(__name__).debug("%s connection: %s", self.NAME, exc)
        finally:
            self.writers.discard(writer)
            close_quietly(writer)

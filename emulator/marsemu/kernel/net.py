"""Framing shared by the emulator's TCP services: a JSON header plus an optional binary payload.

Frame: 4-byte big-endian header length, 4-byte payload length, header (UTF-8 JSON), payload.
"""

import asyncio
import json
import logging
import struct

_PREFIX = struct.Struct(">II")
MAX_HEADER = 64 * 1024 * 1024
MAX_PAYLOAD = 64 * 1024 * 1024


async def send(writer, header, payload=b""):
    data = json.dumps(header, separators=(",", ":")).encode()
    writer.write(_PREFIX.pack(len(data), len(payload)) + data)
    if payload:
        writer.write(payload)
    await writer.drain()


async def recv(reader):
    """One frame as ``(header, payload)``; raises IncompleteReadError at EOF."""
    head_len, payload_len = _PREFIX.unpack(await reader.readexactly(_PREFIX.size))
    if head_len > MAX_HEADER or payload_len > MAX_PAYLOAD:
        raise ValueError("oversized frame (%d, %d)" % (head_len, payload_len))
    header = json.loads((await reader.readexactly(head_len)).decode())
    payload = await reader.readexactly(payload_len) if payload_len else b""
    return header, payload


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


async def request(host, port, header, payload=b"", timeout=5.0, local_addr=None):
    """Connect, send one request, return the one answer, close."""
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(host, port, local_addr=local_addr)
    try:
        async with asyncio.timeout(timeout):
            await send(writer, header, payload)
            return await recv(reader)
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass


def close_quietly(writer):
    try:
        writer.close()
    except (OSError, RuntimeError):
        pass


class RequestServer:
    """One request, one answer, over a connection to ``kernel.port + PORT_OFFSET``.

    Subclasses answer a request header with ``(answer_header, payload)`` in ``answer()``.
    """

    PORT_OFFSET = 0
    NAME = "request"

    def __init__(self, kernel):
        self.kernel = kernel
        self.server = None

    async def start(self):
        self.server = await asyncio.start_server(self._handle, self.kernel.listen_ip, self.kernel.port + self.PORT_OFFSET)

    async def stop(self):
        if self.server:
            self.server.close()
            await self.server.wait_closed()

    async def answer(self, header):
        raise NotImplementedError

    async def _handle(self, reader, writer):
        try:
            while True:
                try:
                    header = (await recv(reader))[0]
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                answer, payload = await self.answer(header)
                answer["stamp"] = self.kernel.clock.now()
                await send(writer, answer, payload)
        except (OSError, ValueError) as exc:
            logging.getLogger(__name__).debug("%s connection: %s", self.NAME, exc)
        finally:
            close_quietly(writer)

"""The framing of the emulator's TCP services: a timeout catches a silent peer, never a slow link."""

import asyncio
import json

import pytest

from marsemu.kernel import net

FRAME = 512 * 1024  # half a fetch stream's frame


async def _serve_once(payload_pace, stall=False):
    """Send one FRAME-byte frame at PAYLOAD_PACE bytes per 0.1 s (STALL: then go silent halfway);
    return what ``net.recv`` with a 1 s timeout makes of it."""
    async def handle(_reader, writer):
        header = json.dumps({"n": 1}).encode()
        writer.write(net._PREFIX.pack(len(header), FRAME) + header)  # pylint: disable=protected-access
        sent = 0
        while sent < FRAME:
            if stall and sent >= FRAME // 2:
                await asyncio.sleep(2.5)
                break
            writer.write(b"x" * min(payload_pace, FRAME - sent))
            await writer.drain()
            sent += payload_pace
            await asyncio.sleep(0.1)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            return await net.recv(reader, timeout=1.0)
        finally:
            writer.close()
    finally:
        server.close()


def test_a_frame_longer_than_the_timeout_arrives_while_its_bytes_flow():
    """260 KiB/s: the frame takes 2 timeouts, but bytes flow all the time (a rate-limited geo link)."""
    header, payload = asyncio.run(_serve_once(26 * 1024))
    assert header == {"n": 1} and len(payload) == FRAME


def test_a_peer_that_goes_silent_mid_frame_times_out():
    with pytest.raises(TimeoutError):
        asyncio.run(_serve_once(64 * 1024, stall=True))

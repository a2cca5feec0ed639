"""Full sync (initial and incremental) over the sync port (7779).

The secondary pulls the primary's disk from ``syncstatus-HOST`` up to ``size`` in chunks.  Like
MARS' fast fullsync it sends checksums of its own blocks first and receives only blocks that
differ; ``verifystatus-HOST`` counts the 4 KiB blocks found equal.  Progress is written to
``syncstatus-HOST`` as it goes, so a paused, cut or restarted sync resumes where it stopped.  At the
end ``syncpos-HOST`` gets the primary's replay link, as in ``main.c``.
"""

import asyncio
import hashlib
import logging

from marsemu.common import format_stamp
from marsemu.kernel import net

LOG = logging.getLogger(__name__)

CHUNK = 1024 * 1024
BLOCK = 64 * 1024
PROGRESS_INTERVAL_NS = 500 * 1000 * 1000


def block_sums(data):
    return [hashlib.md5(data[pos:pos + BLOCK]).hexdigest() for pos in range(0, len(data), BLOCK)]


class SyncServer(net.RequestServer):
    """Serves the local (primary's) disk to syncing secondaries."""

    PORT_OFFSET = 2
    NAME = "sync"

    async def answer(self, header):
        res = self.kernel.resources.get(header.get("res"))
        disk = res.disk if res else None
        if disk is None or not disk.attached:
            return {"error": "resource %s not attached here" % header.get("res")}, b""
        offset, length = int(header["offset"]), int(header["length"])
        data = await asyncio.to_thread(disk.pread, length, offset)
        theirs = header.get("sums") or []
        blocks = []
        payload = []
        for index, pos in enumerate(range(0, len(data), BLOCK)):
            part = data[pos:pos + BLOCK]
            if index < len(theirs) and hashlib.md5(part).hexdigest() == theirs[index]:
                continue
            blocks.append([offset + pos, len(part)])
            payload.append(part)
        return {"blocks": blocks, "replay": res.primary_replay_link()}, b"".join(payload)


class SyncClient:
    """The sync of one resource on a secondary; ``run()`` is its task."""

    def __init__(self, resource, source_host, source_ip):
        self.resource = resource
        self.kernel = resource.kernel
        self.source_host = source_host
        self.source_ip = source_ip
        self.equal_blocks = 0
        self.start_pos = self.pos = resource.syncstatus()
        self.end_pos = resource.size()
        self.stamp = self.kernel.clock.real_ns()

    def info(self):
        """``msg-inf-sync`` while syncing: the fields the kernel's copy brick shows."""
        return ("from = 'data-%s@%s:%d' to = 'data-%s' on = 1 start_pos = %d end_pos = %d actual_pos = %d"
                " actual_stamp = %s ops_rate = 0 amount_rate = 0 read_fly = 0 write_fly = 0 error_code = 0 nr_errors = 0"
                % (self.source_host, self.source_host, self.kernel.port + 2, self.kernel.host, self.start_pos,
                   self.end_pos, self.pos, format_stamp(self.stamp)))

    async def run(self):
        res = self.resource
        tree = self.kernel.tree
        size = res.size()
        pos = res.syncstatus()
        LOG.info("%s: sync from %s starts at %d of %d", res.name, self.source_host, pos, size)
        if pos == 0:
            tree.set(res.rel + "/verifystatus-" + self.kernel.host, "0,0")
        last_progress = self.kernel.clock.real_ns()
        reader = writer = None
        answer = {}
        try:
            while pos < size:
                timeout = self.kernel.net_timeout
                if writer is None:
                    async with asyncio.timeout(timeout):
                        reader, writer = await asyncio.open_connection(self.source_ip, self.kernel.port + 2)
                length = min(CHUNK, size - pos)
                local = await asyncio.to_thread(res.disk.pread, length, pos)
                header = {"res": res.name, "offset": pos, "length": length, "sums": block_sums(local)}
                async with asyncio.timeout(timeout):
                    await net.send(writer, header)
                    answer, payload = await net.recv(reader)
                if answer.get("error"):
                    raise ValueError(answer["error"])
                self.kernel.clock.witness(answer.get("stamp", 0))
                used = 0
                for offset, count in answer["blocks"]:
                    await asyncio.to_thread(res.disk.pwrite, payload[used:used + count], offset)
                    used += count
                self.equal_blocks += (length - used) // 4096
                pos += length
                self.pos, self.stamp = pos, self.kernel.clock.real_ns()
                await self.kernel.throttle_sync(length)
                now = self.kernel.clock.real_ns()
                if now - last_progress >= PROGRESS_INTERVAL_NS or pos >= size:
                    last_progress = now
                    await asyncio.to_thread(res.disk.fsync)
                    tree.set(res.rel + "/syncstatus-" + self.kernel.host, str(pos))
            # MARS: consistent once the replay has passed the primary's position at sync end
            replay = answer.get("replay") or res.primary_replay_link()
            if replay:
                tree.set(res.rel + "/syncpos-" + self.kernel.host, replay)
            tree.set(res.rel + "/verifystatus-" + self.kernel.host, "%d,0" % self.equal_blocks)
            tree.set(res.rel + "/syncstatus-" + self.kernel.host, str(size))
            LOG.info("%s: sync finished (%d bytes)", res.name, size)
        finally:
            if writer is not None:
                net.close_quietly(writer)

"""Logfile transfer between hosts on the replication port (7778).

Secondaries with ``todo-HOST/connect`` = 1 copy the logfiles of other hosts incrementally: the
dentry lists of the meta port announce each logfile's size, and whatever a local copy lacks is
pulled from the host that announced it.  Logfiles deleted here (a ``.deleted`` link in place of
the file) are never fetched, nor own logfiles, except to repair one: when replay stops at a
damaged record (a crashed primary's torn tail), the logfile is fetched again from that record on
and the damaged rest is replaced (MARS re-copies a damaged logfile from a peer, ``_update_file``).

As MARS's fetch does, a fetch follows the logfile end: one request opens a stream on which the
server sends what the file holds beyond the requested offset and then its growth as it comes
(see ``FetchServer.respond``).  So a secondary learns about new log data within milliseconds,
not at its next pull of the tree, and a burst flows on one connection in large chunks.
"""

import asyncio
import logging
import os

from marsemu.kernel import logfile, net
from marsemu.kernel.logger import LOGFILE

LOG = logging.getLogger(__name__)

# per frame of a stream: a frame is appended whole, so on a slow link the logfile (and replay behind
# it) grows a MiB at a time, as MARS copies a logfile piece by piece rather than in one go
CHUNK = 1024 * 1024
OLD_CHUNK = 1024 * 1024  # per answer to a one-shot request (fetchers of older versions)
# An idle stream wakes up when the write path logs a write (Kernel.log_grew); this poll only
# catches logfiles that grow otherwise (tests writing records directly).
POLL = 0.2


def _bad_name(header):
    res, name = header.get("res", "/"), header.get("file", "/")
    return "/" in res or "/" in name or not name.startswith("log-")


class FetchServer(net.RequestServer):
    """Serves the local logfiles: as a stream that follows the end, or one byte range."""

    PORT_OFFSET = 1
    NAME = "fetch"

    def _logfile(self, header):
        return self.kernel.tree.path("resource-%s/%s" % (header["res"], header["file"]))

    async def answer(self, header):
        return await asyncio.to_thread(self._read, header)

    def _read(self, header):
        if _bad_name(header):
            return {"error": "bad logfile name"}, b""
        try:
            with open(self._logfile(header), "rb") as handle:
                handle.seek(int(header["offset"]))
                return {}, handle.read(min(int(header["length"]), OLD_CHUNK))
        except OSError as exc:
            return {"error": str(exc)}, b""

    async def respond(self, header, reader, writer):
        if not header.get("follow"):
            await super().respond(header, reader, writer)
            return
        if _bad_name(header):
            await net.send(writer, {"error": "bad logfile name"})
            return
        try:
            handle = open(self._logfile(header), "rb")  # pylint: disable=consider-using-with
        except OSError as exc:
            await net.send(writer, {"error": str(exc)})
            return
        with handle:
            await self._follow(handle.fileno(), int(header.get("offset", 0)), header, reader, writer)

    async def _follow(self, fd, offset, header, reader, writer):
        """Send frames ``{offset, size}`` + data until the fetcher hangs up.

        Reaching the end is told by a frame without data, repeated every ``heartbeat`` seconds
        while the file does not grow: the fetcher can tell an idle log from a cut link.
        """
        heartbeat = min(max(float(header.get("heartbeat", 1.0)), 0.1), 10.0)
        loop = asyncio.get_running_loop()
        told_end = None  # when the last frame without data went out
        while not reader.at_eof():
            size = os.fstat(fd).st_size
            if size > offset:
                data = await asyncio.to_thread(os.pread, fd, min(CHUNK, size - offset), offset)
                await net.send(writer, {"offset": offset, "size": size}, data)
                offset += len(data)
                told_end = None
            elif told_end is None or loop.time() - told_end >= heartbeat:
                await net.send(writer, {"offset": offset, "size": size})
                told_end = loop.time()
            else:
                await net.wait_event(self.kernel.log_grew, POLL)


class Fetcher:
    """Pulls the missing parts of peer logfiles for one resource (``run`` is its task)."""

    def __init__(self, kernel, res):
        self.kernel = kernel
        self.res = res
        self.wanted = {}  # logfile name -> (size announced, host, ip)
        self.following = None  # (name, ip) of the stream open now
        self.repairs = {}  # logfile name -> position of the damaged record, from which it is fetched again

    def announce(self, name, size, host, ip):
        known = self.wanted.get(name)
        if known is None or size > known[0]:
            # a live stream from the logfile's writer stays: nobody has more than the writer
            match = LOGFILE.match(name)
            keep = known is not None and self.following == (name, known[2]) and match and known[1] == match.group(2)
            self.wanted[name] = (size,) + (known[1:] if keep else (host, ip))

    def repair(self, name, pos):
        """Replay stopped at a damaged record at ``pos``: fetch ``name`` again from there."""
        self.repairs[name] = pos

    def repairing(self, name):
        return name in self.repairs

    def forget_all_but(self, host):
        """Drop what other hosts announced (the designated primary changed)."""
        self.wanted = dict((name, entry) for name, entry in self.wanted.items() if entry[1] == host)

    def _path(self, name):
        return self.kernel.tree.path("resource-%s/%s" % (self.res, name))

    def local_size(self, name):
        try:
            return os.path.getsize(self._path(name))
        except OSError:
            return 0

    def _deleted(self, name):
        return os.path.islink(self._path(name))

    def _missing(self, name):
        """Does the local copy lack announced bytes (or is there none yet)?"""
        path = self._path(name)
        if name in self.repairs:
            return self.wanted[name][0] > self.repairs[name]
        return not self._deleted(name) and (not os.path.exists(path) or self.wanted[name][0] > self.local_size(name))

    def pending(self):
        return any(self._missing(name) for name in self.wanted)

    def should_run(self):
        """Something to copy or to follow."""
        return self._next() is not None

    def _next(self):
        """``(name, host, ip)`` to fetch now: the oldest logfile that lacks bytes, else the newest one."""
        names = [name for name in sorted(self.wanted) if not self._deleted(name)]
        missing = [name for name in names if self._missing(name)]
        name = missing[0] if missing else (names[-1] if names else None)
        return None if name is None else (name,) + self.wanted[name][1:]

    async def run(self):
        """Fetch everything announced, oldest logfile first, then follow the newest one's growth."""
        while True:
            target = self._next()
            if target is None:
                return
            try:
                self.following = (target[0], target[2])
                await self._stream(*target)
            finally:
                self.following = None

    async def _stream(self, name, host, ip):
        """One following fetch of ``name`` from ``ip``, until another logfile needs the fetcher."""
        timeout = self.kernel.net_timeout
        local = (self.kernel.listen_ip, 0) if self.kernel.bind_outgoing else None
        with open(self._path(name), "ab") as handle:  # empty logfiles exist too
            if name in self.repairs:
                LOG.warning("%s: repairing damaged logfile %s from %d on, from %s", self.res, name, self.repairs[name], host)
                handle.truncate(self.repairs.pop(name))
                handle.seek(0, os.SEEK_END)
            header = {"res": self.res, "file": name, "offset": handle.tell(), "length": CHUNK, "follow": True,
                      "heartbeat": timeout / 4}
            async with net.connection(ip, self.kernel.port + 1, timeout, local, limit=2 * CHUNK) as (reader, writer):
                await net.send(writer, header)
                unsynced = False
                while self._next() == (name, host, ip):
                    answer, payload = await net.recv(reader, timeout)
                    if answer.get("error"):
                        raise ValueError("fetch of %s: %s" % (name, answer["error"]))
                    if payload:
                        await asyncio.to_thread(self._append, handle, answer["offset"], payload)
                        unsynced = True
                        await self.kernel.throttle_sync(len(payload))
                    elif unsynced:
                        # caught up: the batch is made durable (replay needs no fsync: it
                        # applies only records with a valid checksum)
                        await asyncio.to_thread(os.fsync, handle.fileno())
                        unsynced = False
                    self.announce(name, answer["size"], host, ip)
                if unsynced:
                    await asyncio.to_thread(os.fsync, handle.fileno())

    @staticmethod
    def _append(handle, offset, payload):
        if handle.tell() != offset:
            raise ValueError("logfile %s changed locally" % handle.name)
        logfile.append(handle, payload)

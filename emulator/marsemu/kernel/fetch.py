"""Logfile transfer between hosts on the replication port (7778).

Secondaries with ``todo-HOST/connect`` = 1 copy the logfiles of other hosts incrementally: the
dentry lists of the meta port carry each logfile's size, and whatever a local copy lacks is
pulled in chunks from the host that announced it.  Own logfiles are never fetched.
"""

import asyncio
import logging
import os

from marsemu.kernel import net

LOG = logging.getLogger(__name__)

CHUNK = 1024 * 1024


class FetchServer(net.RequestServer):
    """Serves byte ranges of the local logfiles."""

    PORT_OFFSET = 1
    NAME = "fetch"

    async def answer(self, header):
        return await asyncio.to_thread(self._read, header)

    def _read(self, header):
        rel = "resource-%s/%s" % (header.get("res", ""), header.get("file", ""))
        if "/" in header.get("res", "/") or "/" in header.get("file", "/") or not header["file"].startswith("log-"):
            return {"error": "bad logfile name"}, b""
        try:
            with open(self.kernel.tree.path(rel), "rb") as handle:
                handle.seek(int(header["offset"]))
                return {}, handle.read(min(int(header["length"]), CHUNK))
        except OSError as exc:
            return {"error": str(exc)}, b""


class Fetcher:
    """Pulls the missing parts of peer logfiles for one resource (``run`` is its task)."""

    def __init__(self, kernel, res):
        self.kernel = kernel
        self.res = res
        self.wanted = {}  # logfile name -> (size announced, host, ip)

    def announce(self, name, size, host, ip):
        known = self.wanted.get(name)
        if known is None or size > known[0]:
            self.wanted[name] = (size, host, ip)

    def pending(self):
        return any(size > self.local_size(name) or not os.path.exists(self._path(name))
                   for name, (size, _host, _ip) in self.wanted.items())

    def _path(self, name):
        return self.kernel.tree.path("resource-%s/%s" % (self.res, name))

    def local_size(self, name):
        try:
            return os.path.getsize(self._path(name))
        except OSError:
            return 0

    async def run(self):
        """Fetch everything announced, oldest logfile first."""
        for name in sorted(self.wanted):
            size, _host, ip = self.wanted[name]
            if not os.path.exists(self._path(name)):
                open(self._path(name), "ab").close()  # empty logfiles exist too
            while self.local_size(name) < size:
                have = self.local_size(name)
                header = {"res": self.res, "file": name, "offset": have, "length": min(CHUNK, size - have)}
                answer, payload = await net.request(ip, self.kernel.port + 1, header, timeout=self.kernel.net_timeout)
                if answer.get("error") or not payload:
                    raise ValueError("fetch of %s: %s" % (name, answer.get("error", "no data")))
                await asyncio.to_thread(self._append, name, have, payload)
                await self.kernel.throttle_sync(len(payload))

    def _append(self, name, offset, payload):
        with open(self._path(name), "ab") as handle:
            if handle.tell() != offset:
                raise ValueError("logfile %s changed locally" % name)
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())

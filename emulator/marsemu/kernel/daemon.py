"""The emulated kernel module of one host: wiring and the main loop.

``Kernel.run()`` is "modprobe": it creates /proc/sys/mars, listens on the meta and sync ports,
and runs main-loop passes (alive links, resource state machines, peer list) every
``scan_interval`` seconds or at once when triggered.  Cancelling it is "rmmod".
"""

import asyncio
import logging
import os

from marsemu.common import Paths, hostname
from marsemu.kernel import indicators, net, writepath
from marsemu.kernel.clock import LamportClock
from marsemu.kernel.fetch import FetchServer
from marsemu.kernel.procsys import ProcSys
from marsemu.kernel.roles import Resource, resource_names
from marsemu.kernel.space import SpaceGuard
from marsemu.kernel.sync import SyncServer
from marsemu.kernel.replication import Tree, TreeService

LOG = logging.getLogger(__name__)


class Kernel:
    """All state of one emulated host; no module-level state anywhere."""

    def __init__(self, paths=None, host=None, listen_ip="0.0.0.0", port=7777, clock=None,
                 scan_interval=1.0, fetch_interval=1.0, primary_delay=2.0, net_timeout=5.0,
                 sync_rate_kib=0, retry_delay=1.0, write_path="auto"):
        self.paths = paths or Paths()
        self.host = host or hostname()
        self.listen_ip = listen_ip
        self.bind_outgoing = listen_ip not in ("0.0.0.0", "")
        self.port = port
        self.clock = clock or LamportClock()
        self.scan_interval = scan_interval
        self.primary_delay = primary_delay
        self.net_timeout = net_timeout
        self.sync_rate_kib = sync_rate_kib
        self.retry_delay = retry_delay
        # "auto": log writes through FUSE where pyfuse3 is installed (the lab image)
        self.run_dir = os.path.join(self.paths.root, "run/mars-emulator")
        logged = writepath.fuse_available() if write_path == "auto" else write_path == "fuse"
        self.fuse = writepath.FuseServer(self.run_dir) if logged else None
        self.tree = Tree(self.paths, self.clock, self.host)
        self.procsys = ProcSys(self.paths, self.clock, port)
        self.space = SpaceGuard(self.procsys, self.paths.mars)
        self.meta = TreeService(self, self.tree, fetch_interval)
        self.sync_server = SyncServer(self)
        self.fetch_server = FetchServer(self)
        self.resources = {}
        self.started_ns = None
        self.ready = asyncio.Event()
        self._wakeup = asyncio.Event()
        self.log_grew = asyncio.Event()  # pulsed after logged writes: wakes idle fetch streams
        self._loop = None
        self._pass_lock = asyncio.Lock()
        self._static_done = False
        self._tasks = []

    # -- lifecycle

    async def run(self):
        """Load, run until cancelled, unload."""
        if not os.path.isdir(self.paths.mars):
            raise RuntimeError("%s does not exist: create and mount it first" % self.paths.mars)
        self.space.check_load()
        self._loop = asyncio.get_running_loop()
        self.started_ns = self.clock.real_ns()
        self.procsys.create()
        try:
            await self.meta.start()
            await self.sync_server.start()
            await self.fetch_server.start()
            self._tasks = [
                asyncio.create_task(self.procsys.read_triggers(self.on_trigger), name="trigger"),
                asyncio.create_task(self._clock_loop(), name="lamport"),
            ]
            await self.run_pass()
            self.ready.set()
            LOG.info("%s: emulated MARS kernel side running on %s:%d", self.host, self.listen_ip, self.port)
            await self._main_loop()
        finally:
            await self._unload()

    async def _unload(self):
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        left_up = [res.shutdown(keep_open_device=True) for res in self.resources.values()]
        if self.fuse is not None and not any(left_up):
            self.fuse.stop()
        await self.meta.stop()
        await self.sync_server.stop()
        await self.fetch_server.stop()
        self.procsys.remove()
        LOG.info("%s: unloaded", self.host)

    async def _main_loop(self):
        while True:
            await net.wait_event(self._wakeup, self.scan_interval)
            self._wakeup.clear()
            await self.run_pass()

    async def _clock_loop(self):
        while True:
            self.procsys.update_clock()
            await asyncio.sleep(0.05)

    # -- the main pass

    async def run_pass(self):
        async with self._pass_lock:
            self.space.update()
            indicators.write_global(self.tree, self._static_done, self.space)
            self._static_done = True
            self.tree.apply_deletions()
            for name in resource_names(self.tree):
                res = self.resources.get(name)
                if res is None:
                    res = self.resources[name] = Resource(self, name)
                try:
                    res.step()
                except Exception:  # pylint: disable=broad-exception-caught
                    # one broken resource must not take the whole "module" down
                    LOG.exception("resource %s on %s", name, self.host)
            for name in list(self.resources):
                if not os.path.isdir(self.tree.path("resource-" + name)):
                    self.resources.pop(name).shutdown()
            self.procsys.set_value("sync_nr", sum(1 for r in self.resources.values() if r.sync_task))
            self.meta.reconcile()

    def wake(self):
        self._wakeup.set()

    def _pulse_log_grew(self):
        self.log_grew.set()  # wakes every waiting stream ...
        self.log_grew.clear()  # ... and re-arms for the next write

    def note_log_growth(self):
        """Called by the write path (the FUSE thread) after each logged write."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._pulse_log_grew)

    def primary_allowed(self):
        """MARS waits a while after modprobe so that newer ``primary`` links can arrive first."""
        return self.clock.real_ns() - self.started_ns >= self.primary_delay * 1e9

    def tree_merged(self, peer, logfiles, changed):
        for rel, size in logfiles:
            res = self.resources.get(rel.split("/")[0][len("resource-"):])
            if res is not None and res.member():
                res.announce_logfile(os.path.basename(rel), size, peer)
        if changed or any(r.fetcher.pending() and r.fetch_task is None for r in self.resources.values()):
            self.wake()

    async def throttle_sync(self, nbytes):
        """Limit the sync rate (``--sync-rate``); 0 is unlimited."""
        if self.sync_rate_kib:
            await asyncio.sleep(nbytes / 1024.0 / self.sync_rate_kib)
        else:
            await asyncio.sleep(0)

    # -- triggers from marsadm

    def on_trigger(self, code):
        LOG.debug("trigger %r", code)
        words = code.split()
        if not words:
            return
        if words[0] == "t" and len(words) > 1:
            words = words[1:]
        if words[0].isdigit():
            number = int(words[0])
            self.wake()
            if number >= 3:
                self.meta.kick_all(remote_trigger=True)
            elif number >= 2:
                self.meta.kick_all(remote_trigger=True)
        elif words[0] == "p" and len(words) == 4:
            self.meta.push(words[1], words[2], words[3])
        elif words[0] == "P" and len(words) == 5:
            self.meta.push(words[1], words[3], words[4], ip=words[2])
        elif words[0] == "c" and len(words) == 4:
            self.meta.check(words[1], words[3], ip=words[2])
        elif words[0] == "f" and len(words) == 4:
            task = asyncio.create_task(self._fetch_rebased(*words[1:]))
            self._tasks.append(task)
        else:
            LOG.warning("unknown trigger %r", code)

    async def _fetch_rebased(self, host, ip, rebase_dir):
        try:
            await self.meta.fetch_rebased(host, ip, rebase_dir)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
            LOG.warning("fetch of %s (%s) into %s failed: %s", host, ip, rebase_dir, exc)

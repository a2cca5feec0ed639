"""The per-resource state machine of the kernel side (simplified from ``main.c``).

Each main-loop pass compares the switches (``todo-HOST/*``, ``primary``) with what is running:
* attach: ``todo-HOST/attach`` = 1 opens the backing disk exclusively, 0 closes it;
* primary: when ``primary`` names this host and the disk is attached, ``/dev/mars/DEV`` comes up;
  when it names another host (or ``(none)``) the device goes down, unless it is still open:
  then the host stays primary ("RemainsPrimary") until it is closed;
* sync: a secondary with ``todo-HOST/sync`` = 1 and ``syncstatus-HOST`` < ``size`` pulls the
  designated primary's disk (see ``sync``);
* fetch (``todo-HOST/connect``) copies other hosts' logfiles, replay (``allow-replay``, after the
  sync) applies them (see ``fetch``, ``replay``); the primary's ``logger`` keeps ``replay-HOST``
  and ``version-*`` up to date.
The results are published as ``actual-HOST/*`` indicators.
"""

import asyncio
import logging
import os

from marsemu.common import format_stamp, parse_replay
from marsemu.kernel import indicators
from marsemu.kernel.device import BackingDisk, MarsDevice
from marsemu.kernel.fetch import Fetcher
from marsemu.kernel.logger import LOGFILE, PrimaryLogger
from marsemu.kernel.replay import replay_before_primary, replay_step
from marsemu.kernel.space import space_low_warning
from marsemu.kernel.sync import SyncClient
from marsemu.kernel.writepath import LoggedDisk

LOG = logging.getLogger(__name__)

NONE = "(none)"


class Resource:
    """One ``/mars/resource-RES`` as seen by this host's kernel side."""

    def __init__(self, kernel, name):
        self.kernel = kernel
        self.tree = kernel.tree
        self.host = kernel.host
        self.name = name
        self.rel = "resource-" + name
        self.disk = None
        self.device = None
        self.is_primary = False
        self.sync_task = None
        self.sync_source = None
        self.sync_client = None
        self.adopted = False
        self.logger = None
        self.fetcher = Fetcher(kernel, name)
        self.fetch_task = None
        self.fetch_source = None  # the designated primary the fetcher copies from
        self.replaying = False
        self.replay_code = 0
        self.messages = {}  # kernel messages of this pass: key (e.g. "err-splitbrain-detected") -> text
        self.message_stamps = {}  # key -> (first seen, Lamport stamp then, last seen, text)
        self.has_emergency = False
        self.logging_stopped = False
        self.created_hole = False
        self.joined = False  # a member in an earlier pass (then leaving shows its last indicators)

    # -- reading the tree

    def link(self, name):
        return self.tree.get(self.rel + "/" + name)

    def todo(self, switch):
        return self.link("todo-%s/%s" % (self.host, switch)) == "1"

    def _int_link(self, name, default=0):
        try:
            return int(self.link(name))
        except (TypeError, ValueError):
            return default

    def size(self):
        return self._int_link("size")

    def syncstatus(self):
        return self._int_link("syncstatus-" + self.host)

    def designated_primary(self):
        value = self.link("primary")
        return None if value in (None, NONE) else value

    def primary_replay_link(self):
        primary = self.designated_primary()
        return self.link("replay-" + primary) if primary else None

    def member(self):
        return self.link("data-" + self.host) is not None

    # -- the state machine

    def step(self):
        """One pass; returns True while the resource is alive here (member or still up)."""
        if not self.member():
            self.shutdown()
            if self.joined and indicators.write_left(self.tree, self.name):
                self.joined = False
            return False
        self.joined = True
        started = self.kernel.clock.now()
        self.messages = {}
        self._attach_step()
        self._primary_step()
        self._emergency_step()
        self._fetch_step()
        self._sync_step()
        self._publish(started)
        return True

    def announce_logfile(self, name, size, host):
        """A peer's dentry list shows one of its logfiles (called for every merge)."""
        match = LOGFILE.match(name)
        mine = parse_replay(self.link("replay-" + self.host) or "")
        # logfiles older than our replay position are not needed (and may be purged there); as in
        # MARS, a secondary fetches from the designated primary only: an old primary that was cut
        # off may hold writes nobody else has (a split brain), which must not spread
        if host != self.designated_primary():
            return
        own = match and match.group(2) == self.host and not self.fetcher.repairing(name)
        if match and not own and (mine is None or int(match.group(1)) >= mine[0]):
            ip = self.tree.get("ips/ip-" + host)
            if ip:
                self.fetcher.announce(name, size, host, ip)

    def _emergency_step(self):
        """Emergency mode of this resource (``make_log_finalize``-like): stop logging on a full /mars."""
        space = self.kernel.space
        if space.jammed:
            self.has_emergency = True
            self.messages["err-space-low"] = "DISK SPACE IS EXTREMELY LOW"
        elif space.exhausted and self.has_emergency:
            self.messages["err-space-low"] = "EMEGENCY MODE HYSTERESIS: you need to free more space for recovery."
        else:
            self.has_emergency = space.below_percent(self._int_link("todo-%s/emergency-limit" % self.host))
        self.logging_stopped = self.has_emergency and self.is_primary and self.logger is not None
        if self.logging_stopped:
            self.messages["err-emergency"] = (
                "EMERGENCY MODE on %s: stopped transaction logging, and created a hole in the logfile sequence nubers."
                % self.tree.mars_path(self.rel))
            if not self.created_hole:
                LOG.error("%s: emergency mode: transaction logging stopped", self.name)
                self.logger.create_hole()
                self.created_hole = True
        else:
            self.created_hole = False
        warning = space_low_warning(space.mode)
        if warning:
            self.messages["wrn-space-low"] = warning
        if self.logger is not None and self.device is not None and self.device.logged is not None:
            self.device.logged.switch_log(self.logger.current_path())
            self.device.logged.logging = not self.logging_stopped

    def _fetch_step(self):
        if self.is_primary or not self.todo("connect") or self.kernel.space.secondaries_stop:
            if self.fetch_task is not None:
                self.fetch_task.cancel()
                self.fetch_task = None
            return
        primary = self.designated_primary()
        if self.fetch_source != primary:
            # a new designated primary: stop copying from (or following) the old one
            if self.fetch_task is not None:
                self.fetch_task.cancel()
                self.fetch_task = None
            self.fetcher.forget_all_but(primary)
            self.fetch_source = primary
        if self.fetch_task is None and self.fetcher.should_run():  # copies, then follows the log end
            self.fetch_task = asyncio.create_task(self._fetch_guarded(), name="fetch-" + self.name)

    async def _fetch_guarded(self):
        try:
            await self.fetcher.run()
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
            LOG.info("%s: fetch interrupted: %s", self.name, exc)
            await asyncio.sleep(self.kernel.retry_delay)
        finally:
            if self.fetch_task is asyncio.current_task():
                self.fetch_task = None
            self.kernel.wake()

    def _attach_step(self):
        data = self.link("data-" + self.host)
        if self.disk is not None and self.disk.path != data and not self.is_primary:
            self._detach()
        want = self.todo("attach")
        if want and (self.disk is None or not self.disk.attached):
            self.disk = BackingDisk(data)
            if self.disk.open():
                LOG.info("%s: attached %s", self.name, data)
        elif not want and self.disk is not None and self.disk.attached and not self.is_primary:
            self._stop_sync()
            self._detach()

    def _detach(self):
        if self.disk is not None:
            self.disk.close()
            LOG.info("%s: detached %s", self.name, self.disk.path)

    def _device_name(self):
        return self.link("device-" + self.host) or self.name

    def _primary_step(self):
        attached = self.disk is not None and self.disk.attached
        want = attached and self.designated_primary() == self.host and self.todo("attach")
        if self.device is None:
            self.device = MarsDevice(self.kernel.paths, self._device_name(), self.link("data-" + self.host),
                                     self.kernel.run_dir, self.kernel.fuse)
            if not self.adopted:
                self.adopted = True
                if self.device.adopt():
                    # left behind by a crashed daemon: kept without delay if still wanted,
                    # torn down below (once closed) if not
                    self.is_primary = True
                    self.device.size = self.size()
        if want and not self.is_primary:
            if not self.kernel.primary_allowed():
                return
            self._stop_sync()
            if self.syncstatus() >= self.size() and self.todo("allow-replay"):
                replay_before_primary(self.tree, self.name, self.host, self.disk)
            self.logger = PrimaryLogger(self.tree, self.name, self.host)
            self.logger.start()
            logged = None
            if self.kernel.fuse is not None:
                logged = LoggedDisk(self.disk, self.size(), self.kernel.clock, self.kernel.note_log_growth)
                logged.switch_log(self.logger.current_path())
            self.device.create(self.size(), logged)
            self.is_primary = True
            self._publish_device_size(self.size())
        elif not want and self.is_primary:
            if self.device.open_count() > 0:
                return  # RemainsPrimary until the device is closed
            self.device.remove()
            self.is_primary = False
            self.device = None
            self.logger = None
            self._publish_device_size(None)
        if want and self.is_primary and self.size() > self.device.size:
            if self.device.grow(self.size()):
                self._publish_device_size(self.size())
        # the logger also runs while an open device holds the host primary (RemainsPrimary)
        if self.is_primary and (want or self.logger is not None):
            if self.logger is None:
                self.logger = PrimaryLogger(self.tree, self.name, self.host)
                self.logger.start()
            logged = self.device.logged
            self.logger.step(logged.switch_log if logged is not None else None)
            if logged is not None:
                logged.switch_log(self.logger.current_path())

    def _publish_device_size(self, size):
        """``/sys/devices/virtual/block/mars!DEV/size`` for marsadm's resize, below a test root only.

        On a lab host (root ``/``) that path is the kernel's sysfs, where no file can be made.
        """
        if self.kernel.paths.root in ("", "/"):
            return
        path = self.kernel.paths.device_size_file(self._device_name())
        if size is None:
            if os.path.exists(path):
                os.unlink(path)
            return
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="ascii") as handle:
            handle.write("%d\n" % (size // 512))

    def _sync_step(self):
        primary = self.designated_primary()
        secondary = self.disk is not None and self.disk.attached and not self.is_primary and primary not in (None, self.host)
        synced = self.syncstatus() >= self.size()
        self.replaying = False
        if secondary and synced and self.sync_task is None and self.todo("allow-replay"):
            fetching = {name for name, (size, _h, _ip) in self.fetcher.wanted.items()
                        if size > self.fetcher.local_size(name)}
            result = replay_step(self.tree, self.name, self.host, primary, self.disk, fetching)
            self.replaying, self.replay_code = result.behind, result.code
            self.messages.update(result.messages)
            if result.damaged is not None:
                self.fetcher.repair(*result.damaged)
        want = secondary and self.todo("sync") and not synced
        if want and self.sync_task is not None and self.sync_source != primary:
            self._stop_sync()
        if want and self.sync_task is None:
            ip = self.tree.get("ips/ip-" + primary)
            if ip:
                self.sync_source = primary
                self.sync_client = SyncClient(self, primary, ip)
                self.sync_task = asyncio.create_task(self._sync_guarded(self.sync_client), name="sync-" + self.name)
        elif not want:
            self._stop_sync()
        if self.sync_task is not None:
            self.messages["inf-sync"] = self.sync_client.info()

    async def _sync_guarded(self, client):
        try:
            await client.run()
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
            # a cut link or a busy source: the next pass retries from syncstatus
            LOG.info("%s: sync from %s interrupted: %s", self.name, client.source_host, exc)
            await asyncio.sleep(self.kernel.retry_delay)
        finally:
            if self.sync_task is asyncio.current_task():
                self.sync_task = None
            self.kernel.wake()

    def _stop_sync(self):
        if self.sync_task is not None:
            self.sync_task.cancel()
            self.sync_task = None

    def _publish(self, started):
        """The indicators of this pass; what was written meanwhile (after STARTED: leave-resource's
        .deleted marks, landing link by link) is newer than what this pass saw, and stays."""
        attached = self.disk is not None and self.disk.attached
        opened = self.device.open_count() if self.is_primary else 0
        state = {
            "is-attached": int(attached),
            "is-primary": int(self.is_primary),
            "is-syncing": int(self.sync_task is not None),
            "is-copying": int(self.fetch_task is not None and self.fetcher.pending()),  # not while idly following
            "is-replaying": int(self.replaying),
            "is-emergency": int(self.logging_stopped),
            "has-emergency": int(self.has_emergency),
            "replay-code": self.replay_code,
            "disk-error": self.disk.error if self.disk is not None else 0,
            "if-on": int(self.is_primary),
            "open-count": opened,
        }
        if self.is_primary:
            state.update({"if-flying": 0, "if-state": 0, "if-completion-stamp": "0.000000000"})
        if attached:
            self.tree.set_unless_newer(self.rel + "/actsize-" + self.host, str(self.disk.size()), started)
        indicators.write_resource(self.tree, self.name, state, self.is_primary, self._message_links(), started)

    def _message_links(self):
        """``msg-KEY`` values as the kernel shows them: "SYSTEM-STAMP LAMPORT-STAMP text" while active.

        A message keeps the stamps of its first appearance, so marsadm can tell how long it lasts,
        and stays ``mars_keep_msg_s`` seconds after its cause is gone (``_show_vals``).
        """
        now = self.kernel.clock.real_ns()
        keep_ns = self.kernel.procsys.get_int("mars_keep_msg_s", 10) * 1e9
        for key, text in self.messages.items():
            first = self.message_stamps.get(key)
            if first is None:
                self.message_stamps[key] = (now, self.kernel.clock.now(), now, text)
            else:
                self.message_stamps[key] = (first[0], first[1], now, text)
        links = {}
        for key, (real, lamport, seen, text) in list(self.message_stamps.items()):
            if key not in self.messages and now - seen > keep_ns:
                del self.message_stamps[key]
                continue
            links["msg-" + key] = "%s %s %s" % (format_stamp(real), format_stamp(lamport), text)
        return links

    def shutdown(self, keep_open_device=False):
        """Stop everything (left the resource, or the "module" is unloaded).

        Returns True if an open device was left up (``keep_open_device``).
        """
        self._stop_sync()
        if self.fetch_task is not None:
            self.fetch_task.cancel()
            self.fetch_task = None
        left_up = False
        if self.is_primary and self.device is not None:
            if keep_open_device and self.device.open_count() > 0:
                LOG.warning("%s: %s is in use, leaving it up", self.name, self.device.path)
                left_up = True
            else:
                self.device.remove()
            self.is_primary = False
            self.device = None
        if self.disk is not None:
            self._detach()
            self.disk = None
        return left_up


def resource_names(tree):
    try:
        names = os.listdir(tree.paths.mars)
    except OSError:
        return []
    return sorted(n[len("resource-"):] for n in names
                  if n.startswith("resource-") and os.path.isdir(tree.path(n)))

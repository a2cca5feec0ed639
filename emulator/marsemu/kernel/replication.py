"""Symlink-tree replication (MARS ``run_bone``), server and client on the meta port (7777).

Every member pulls the dentry list of each peer named in ``/mars/ips/`` and merges it:
a remote symlink wins only if its mtime (Lamport stamp) is newer; ``.deleted`` is copied only
onto an existing object; dot-names are never sent; only ``resource-*``, ``todo-*``, ``actual-*``
and ``defaults*`` directories are created; peers with a different ``/mars/uuid`` are ignored
(``(any)``, written by join-cluster, matches every uuid).
"""

import asyncio
import logging
import os
import stat

from marsemu.common import DELETED, format_stamp, link_stamp, read_link, set_link
from marsemu.kernel import net
from marsemu.kernel.scanner import MAX_DEPTH, Scanner

LOG = logging.getLogger(__name__)

USABLE_DIRS = ("resource-", "todo-", "actual-", "defaults")
SKIPPED_NAMES = (".", "ignore")
ANY_UUID = "(any)"
# The real module rewrites its indicators once per main-loop round, every scan_interval_sec (5 s)
# when nothing triggers it. The emulator's pass runs every second, so an unchanged indicator is
# rewritten only once it is that old: a new value still lands in the pass that finds it, while
# peers are spared merging, and the scanner re-reading, a hundred links a second for nothing.
PASS_LINK_REFRESH_NS = 5 * 1000 * 1000 * 1000


def is_pass_link(rel):
    """A link the kernel rewrites on every main-loop pass: the indicators (``actual-*``) and
    ``actsize-HOST``.  A new value of one needs no reaction: merging it must not wake the main loop,
    or every pass of a peer would start a pass here, whose links wake the peers in turn."""
    return "actual-" in rel or os.path.basename(rel).startswith("actsize-")


def _readlink(path):
    try:
        return os.readlink(path)
    except OSError:
        return None


class Tree:
    """The local /mars tree of one host: scanning, writing and merging links."""

    def __init__(self, paths, clock, host):
        self.paths = paths
        self.clock = clock
        self.host = host
        self.scanner = Scanner(paths.mars)
        self._pass_links = {}  # rel -> (value, stamp) as this host last wrote it (set_unless_newer)

    def path(self, rel):
        return os.path.join(self.paths.mars, rel)

    def rel_from_mars_path(self, mars_path):
        """``/mars/a/b`` (as marsadm and peers name it) to ``a/b``; None outside /mars."""
        if not mars_path.startswith("/mars/"):
            return None
        rel = os.path.normpath(mars_path[len("/mars/"):])
        return None if rel.startswith("..") or rel == "." else rel

    @staticmethod
    def mars_path(rel):
        """``a/b`` as the kernel names it in messages: ``/mars/a/b``, whatever the emulation root."""
        return "/mars/" + rel

    def get(self, rel):
        return read_link(self.path(rel))

    def set(self, rel, value, stamp=None):
        stamp = self.clock.now() if stamp is None else stamp
        set_link(self.path(rel), value, stamp)
        return stamp

    def set_unless_newer(self, rel, value, since):
        """A pass link (``is_pass_link``) for the pass that began at SINCE: ``set`` unless the link
        was written after SINCE (by someone else: it is newer news), or unless this host wrote the
        same value less than ``PASS_LINK_REFRESH_NS`` before SINCE and nobody wrote it since."""
        stamp = link_stamp(self.path(rel))
        mine = self._pass_links.get(rel)
        if mine is not None and stamp == mine[1] and mine[0] == value and since - stamp < PASS_LINK_REFRESH_NS:
            return
        if stamp is None or stamp <= since:
            self._pass_links[rel] = (value, self.set(rel, value))

    def set_if_changed(self, rel, value):
        if self.get(rel) != value:
            self.set(rel, value)

    def uuid(self):
        return self.get("uuid")

    def peers(self):
        """``{host: ip}`` from /mars/ips, without this host."""
        result = {}
        try:
            names = os.listdir(self.path("ips"))
        except OSError:
            return result
        for name in names:
            if name.startswith("ip-") and name[3:] != self.host:
                ip = self.get("ips/" + name)
                if ip:
                    result[name[3:]] = ip
        return result

    def scan(self):
        """The dentry list sent to peers: ``[rel, kind, link value, mtime_ns, size]``."""
        return self.scanner.scan()

    def ordered_symlink(self, rel, value, stamp):
        """Write ``value`` with ``stamp`` unless the local object is as new or newer."""
        path = self.path(rel)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            st = None
        if st is not None and st.st_mtime_ns >= stamp:
            return False
        if value == DELETED and st is None:
            return False
        if st is not None and os.path.stat.S_ISDIR(st.st_mode):
            # the kernel never turns a directory into a link (only marsadm rmdirs empty ones)
            return False
        if st is not None and stat.S_ISLNK(st.st_mode) and is_pass_link(rel) and _readlink(path) == value:
            # a peer's indicator, rewritten by its pass with the same value: only the stamp is news.
            # Stamped in place, as the values and stamps every reader sees are those of MARS's new link,
            # without the new inode (hundreds a second on an idle fleet, the bulk of its CPU time)
            os.utime(path, ns=(stamp, stamp), follow_symlinks=False)
            self.scanner.restamped(rel, value, stamp)
            self.clock.witness(stamp)
            return True
        if not os.path.isdir(os.path.dirname(path)):
            return False
        if st is not None and os.path.stat.S_ISREG(st.st_mode):
            os.unlink(path)
        try:
            set_link(path, value, stamp)
        except OSError as exc:
            # e.g. "deleting" a non-empty directory, as with marsadm
            LOG.debug("cannot set %s: %s", rel, exc)
            return False
        self.clock.witness(stamp)
        return True

    def merge(self, entries, rebase=None):
        """Merge a peer's dentry list; returns (changed, (rel, size) of its logfiles, systemd rels)."""
        changed = False
        logfiles = []
        systemd = []
        # the local entries as of now: what is as new here costs no system call (this loop runs over
        # every peer's whole tree every second)
        known = (lambda parent, name: None) if rebase else self.scanner.known
        if not rebase:
            self.scanner.refresh()
        newest = 0
        try:
            for rel, kind, value, mtime, size in entries:
                parent, name = rel.rpartition("/")[::2]
                if name.startswith(SKIPPED_NAMES) or rel.count("/") >= MAX_DEPTH:
                    continue
                if mtime > newest:
                    newest = mtime
                local = known(parent, name)
                if kind == "l" and local is not None and local[0] != "f" and local[2] >= mtime:
                    continue  # ordered_symlink would keep the local one (a logfile's own mtime is looked at there)
                local_rel = os.path.join(rebase, rel) if rebase else rel
                if kind == "d":
                    path = self.path(local_rel)
                    if local is None and name.startswith(USABLE_DIRS) and not os.path.lexists(path):
                        if os.path.isdir(os.path.dirname(path)):
                            os.mkdir(path)
                            changed = True
                elif kind == "l":
                    if self.ordered_symlink(local_rel, value, mtime):
                        # indicators change on every pass; only switches and the like need a reaction
                        changed = changed or not is_pass_link(local_rel)
                        if not rebase and name.startswith(("primary", "systemd")):
                            systemd.append(local_rel)
                elif kind == "f" and not rebase and name.startswith("log-"):  # the resource decides what to fetch
                    logfiles.append((local_rel, size))
        finally:
            self.clock.witness(newest)
        return changed, logfiles, systemd

    def apply_deletions(self):
        """``todo-global/delete-NNNNNNNNN-HOST -> /mars/PATH``, the older deletion method (MARS ``prepare_delete``).

        marsadm falls back to it when no resource member shows it the kernel's features (delete-resource
        after every member left).  A target not newer than its deletion link goes (a directory once
        empty; marsadm numbers children first), ``deleted-HOST`` tells marsadm the highest number seen,
        and a deletion done here and seen by every host (``deleted-*``) is removed.
        """
        deletions, seen = [], []
        for name in self._names("todo-global"):
            value = self.get("todo-global/" + name)
            if name.startswith("delete-") and value and name.split("-")[1].isdigit():
                deletions.append((int(name.split("-")[1]), name, value))
            elif name.startswith("deleted-") and value and value.isdigit():
                seen.append(int(value))
        if not deletions:
            return
        for serial, name, target in sorted(deletions):
            rel = self.rel_from_mars_path(target)
            link = self.path("todo-global/" + name)
            stamp = link_stamp(link)  # None: replaced meanwhile (by marsadm or a merge)
            if rel is not None and stamp and self._delete_older(self.path(rel), stamp) and serial <= min(seen, default=0):
                os.unlink(link)
        mine = self.get("todo-global/deleted-" + self.host) or "0"
        highest = max(deletions)[0]
        if not mine.isdigit() or int(mine) < highest:
            self.set("todo-global/deleted-" + self.host, "%09d" % highest)

    @staticmethod
    def _delete_older(path, stamp):
        """Remove PATH unless it is newer than STAMP; True when nothing is left to do."""
        try:
            st = os.lstat(path)
            if st.st_mtime_ns <= stamp and stat.S_ISDIR(st.st_mode):
                os.rmdir(path)
            elif st.st_mtime_ns <= stamp:
                os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as exc:  # a directory that still has children: a later pass
            LOG.debug("cannot delete %s yet: %s", path, exc)
            return False
        return True

    def _names(self, rel):
        try:
            return os.listdir(self.path(rel))
        except OSError:
            return []

    def touch_systemd_trigger(self, rel):
        """MARS touches ``resource-R/systemd-trigger`` when ``primary``/``systemd*`` arrive."""
        directory = os.path.dirname(rel)
        target = os.path.join(directory, "systemd-trigger") if directory else "userspace/systemd-trigger"
        if "/userspace/" in "/" + rel:
            return
        try:
            with open(self.path(target), "w", encoding="ascii") as handle:
                handle.write(format_stamp(self.clock.now()) + "\n")
        except OSError:
            pass


class Peer:
    """One remote host we pull from (and push to)."""

    def __init__(self, service, host, ip, permanent=True):
        self.service = service
        self.host = host
        self.ip = ip
        self.permanent = permanent
        self.wakeup = asyncio.Event()
        self.remote_trigger = False
        self.pushes = []
        self.task = None
        self.last_ok = 0
        self.fetched = asyncio.Event()

    def start(self):
        self.task = asyncio.create_task(self._run(), name="peer-" + self.host)

    def stop(self):
        if self.task:
            self.task.cancel()

    def kick(self, remote_trigger=False):
        self.remote_trigger |= remote_trigger
        self.wakeup.set()

    async def _run(self):
        interval = self.service.fetch_interval
        while True:
            await net.wait_event(self.wakeup, interval)
            self.wakeup.clear()
            try:
                await self._exchange()
                self.fetched.set()
            except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
                LOG.debug("peer %s (%s): %s", self.host, self.ip, exc)
                await asyncio.sleep(min(interval, 0.5))
            if not self.permanent and not self.pushes:
                self.service.forget(self)
                return

    async def _exchange(self):
        service = self.service
        while self.pushes:
            kind, args = self.pushes[0]
            try:
                await service.call(self.ip, dict(cmd=kind, stamp=service.clock.now(), **args))
            except ValueError as exc:
                # refused by the peer (e.g. a path outside /mars): retrying cannot help
                LOG.error("push to %s dropped: %s", self.host, exc)
            self.pushes.pop(0)
        if not self.permanent:
            return
        if self.remote_trigger:
            self.remote_trigger = False
            await service.call(self.ip, {"cmd": "trigger", "host": service.host})
        answer = (await service.call(self.ip, {"cmd": "getents", "host": service.host}))[0]
        service.absorb(self, answer)


class TreeService:
    """Server and clients of the meta port."""

    def __init__(self, kernel, tree, fetch_interval=1.0):
        self.kernel = kernel
        self.tree = tree
        self.clock = tree.clock
        self.host = tree.host
        self.fetch_interval = fetch_interval
        self.peers = {}
        self.extra = []
        self.server = None

    @property
    def port(self):
        return self.kernel.port

    async def start(self):
        self.server = await asyncio.start_server(self._handle, self.kernel.listen_ip, self.port)

    async def stop(self):
        for peer in list(self.peers.values()) + self.extra:
            peer.stop()
        if self.server:
            self.server.close()
            await self.server.wait_closed()

    async def call(self, ip, header):
        local = (self.kernel.listen_ip, 0) if self.kernel.bind_outgoing else None
        answer, payload = await net.request(ip, self.port, header, timeout=self.kernel.net_timeout,
                                            local_addr=local)
        if "stamp" in answer:
            self.clock.witness(answer["stamp"])
        if answer.get("error"):
            raise ValueError("peer refused: %s" % answer["error"])
        return answer, payload

    def reconcile(self):
        """Follow /mars/ips: start pulling from new members, stop for removed ones."""
        wanted = self.tree.peers()
        for host, ip in wanted.items():
            peer = self.peers.get(host)
            if peer and peer.ip != ip:
                peer.stop()
                peer = None
            if peer is None:
                peer = Peer(self, host, ip)
                self.peers[host] = peer
                peer.start()
                peer.kick()
        for host in list(self.peers):
            if host not in wanted:
                self.peers.pop(host).stop()

    def forget(self, peer):
        if peer in self.extra:
            self.extra.remove(peer)

    def peer_for(self, host, ip=None):
        """A permanent peer, or a one-shot one for pushes to hosts not (yet) in /mars/ips."""
        peer = self.peers.get(host)
        if peer and (ip is None or peer.ip == ip):
            return peer
        ip = ip or self.tree.get("ips/ip-" + host)
        if not ip:
            LOG.warning("push to unknown host %s dropped: no /mars/ips/ip-%s", host, host)
            return None
        peer = Peer(self, host, ip, permanent=False)
        self.extra.append(peer)
        peer.start()
        return peer

    def kick_all(self, remote_trigger=False):
        for peer in self.peers.values():
            peer.kick(remote_trigger)

    def push(self, host, value, mars_path, ip=None):
        peer = self.peer_for(host, ip)
        if peer:
            peer.pushes.append(("push", {"value": value, "path": mars_path}))
            peer.kick()

    def check(self, host, mars_path, ip=None):
        peer = self.peer_for(host, ip)
        if peer:
            peer.pushes.append(("check", {"host": self.host, "path": mars_path}))
            peer.kick()

    async def fetch_rebased(self, host, ip, rebase_dir):
        """``f PEER IP DIR``: copy PEER's tree under DIR (merge-cluster probes), then ``got-PEER``."""
        rebase = self.tree.rel_from_mars_path(rebase_dir)
        if rebase is None:
            LOG.warning("rebase dir %s is not below /mars", rebase_dir)
            return
        answer = (await self.call(ip, {"cmd": "getents", "host": self.host}))[0]
        # a probe is a private copy: every directory of a link is made, not only the usable ones
        parents = {os.path.dirname(entry[0]) for entry in answer["entries"] if entry[1] == "l"}
        for sub in sorted(parents | {""}):
            os.makedirs(self.tree.path(os.path.join(rebase, sub)), exist_ok=True)
        self.tree.merge(answer["entries"], rebase=rebase)
        self.tree.set(os.path.join(rebase, "got-" + host), "1")

    def absorb(self, peer, answer):
        """Merge a peer's getents answer unless the uuids differ."""
        mine = self.tree.uuid()
        theirs = answer.get("uuid")
        if not theirs:
            LOG.warning("peer %s has no uuid", peer.host)
            return
        if mine and theirs != mine and ANY_UUID not in (mine, theirs):
            LOG.warning("ignoring peer %s: uuid %s differs from ours %s", peer.host, theirs, mine)
            return
        changed, logfiles, systemd = self.tree.merge(answer["entries"])
        for rel in systemd:
            self.tree.touch_systemd_trigger(rel)
        # MARS: the value is the peer's stamp when it read its tree, the mtime when we merged it
        self.tree.set("actual-%s/read-stamp" % peer.host, format_stamp(answer["stamp"]))
        peer.last_ok = self.clock.real_ns()
        self.kernel.tree_merged(peer.host, logfiles, changed)

    async def _handle(self, reader, writer):
        try:
            while True:
                try:
                    header = (await net.recv(reader))[0]
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                answer = await self._answer(header)
                answer["stamp"] = self.clock.now()
                await net.send(writer, answer)
        except (OSError, ValueError) as exc:
            LOG.debug("meta connection: %s", exc)
        finally:
            net.close_quietly(writer)

    async def _answer(self, header):
        cmd = header.get("cmd")
        if "stamp" in header:
            self.clock.witness(header["stamp"])
        if cmd == "getents":
            return {"uuid": self.tree.uuid(), "host": self.host, "entries": self.tree.scan()}
        if cmd == "trigger":
            # a peer's wait-cluster: refresh our alive links now, and pull from it soon
            await self.kernel.run_pass()
            peer = self.peers.get(header.get("host"))
            if peer:
                peer.kick()
            return {}
        if cmd == "push":
            return self._receive_push(header)
        if cmd == "check":
            rel = self.tree.rel_from_mars_path(header.get("path", ""))
            if rel is not None and not os.path.lexists(self.tree.path(rel)):
                peer = self.peers.get(header.get("host"))
                if peer:
                    peer.kick()
            return {}
        return {"error": "unknown command %r" % cmd}

    def _receive_push(self, header):
        value, mars_path = header.get("value"), header.get("path", "")
        rel = self.tree.rel_from_mars_path(mars_path)
        if rel is None or not isinstance(value, str) or (
                value.startswith("/") and not value.startswith(("/mars/", "/dev/"))):
            LOG.error("invalid push attempt %r -> %r", mars_path, value)
            return {"error": "invalid push"}
        os.makedirs(os.path.dirname(self.tree.path(rel)), exist_ok=True)
        if self.tree.ordered_symlink(rel, value, header["stamp"]):
            LOG.info("pushed %s -> %s", mars_path, value)
            if rel.startswith("ips/ip-"):
                self.reconcile()
            self.kernel.wake()
        return {}

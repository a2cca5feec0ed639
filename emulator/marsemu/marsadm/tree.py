"""Reading the /mars tree the way marsadm does: membership, designated primary, logfile amounts,
device presence, split brain, and the per-resource pre-checks (``check_res`` & co)."""

import os
import re
import stat

from marsemu.marsadm.runtime import NSEC, RESERVED_ID, alphanum_sorted

ID_RE = re.compile(r"^[A-Za-z0-9_][-A-Za-z0-9_]*$")
REPLAY_RE = re.compile(r"log-([0-9]+)-[^,]+,([0-9]+),([0-9]+)")


# ------------------------------------------------------------------ identifiers

def check_id(ses, ident, must_exist=False, abort_reserved=0, allow_specs=False):
    """Syntax of host and resource names (RFC 1123 labels, no reserved words)."""
    if not ident:
        ses.die("identifier '%s' is empty" % (ident or ""))
    if not ID_RE.match(ident):
        ses.die("identifier '%s' has disallowed characters" % ident)
    if len(ident) > 63:
        ses.die("identifier '%s' is too long (only 63 chars supported according to RFC 1123)" % ident)
    if RESERVED_ID.match(ident):
        if allow_specs and ident == "all":
            pass
        elif not abort_reserved:
            ses.warn("identifier '%s' is a RESERVED special name.\n" % ident)
        elif abort_reserved > 0:
            ses.warn("identifier '%s' is a RESERVED special name: forbidden here.\n" % ident)
            if not ses.opts.force:
                ses.die("reserved names are dangerous.\n")
            ses.warn("due to --force, I continue with reserved name '%s' AT YOUR RISK.\n" % ident)
    if must_exist and not ses.get_link(ses.mpath("ips", "ip-" + ident), 1):
        if not ses.opts.force:
            ses.warn("Host '%s' does not exist in %s/ips/\n" % (ident, ses.show(ses.mars)))
            ses.die("When you know what you are doing, you may fix any typos and then use --force\n")
        ses.warn("host '%s' does not exist in %s/ips/ - hopefully you know what you are doing via --force\n"
                 % (ident, ses.show(ses.mars)))


def check_id_list(ses, text, must_exist=False, abort_reserved=0, allow_specs=False):
    if not re.match(r"^[A-Za-z0-9_][-A-Za-z0-9_,]*$", text):
        ses.die("comma-separated list '%s' has disallowed characters" % text, 25)
    for ident in text.split(","):
        check_id(ses, ident, must_exist, abort_reserved, allow_specs)


# ------------------------------------------------------------------ peers and resources

class Membership:
    """marsadm's ``_scan_caches``: who is a configured peer, member or guest of what."""

    def __init__(self, ses):
        self.total_peers = {}
        self.total_resources = {}
        self.member = {}      # res -> set(peer)
        self.member_of = {}   # peer -> set(res)
        self.any = {}
        self.any_of = {}
        self.guest = {}
        self.guest_of = {}
        for path in ses.raw_glob(ses.mpath("ips", "ip-*")):
            self.total_peers.setdefault(os.path.basename(path)[3:], set())
        paths = {}
        for res_path in ses.glob(ses.mpath("resource-*")):
            res = os.path.basename(res_path)[len("resource-"):]
            self.total_resources.setdefault(res, set())
            for kind in ("device", "data", "replay"):
                for path in ses.glob(os.path.join(res_path, kind + "-*")):
                    paths[path] = (res, kind, os.path.basename(path)[len(kind) + 1:])
        for path in sorted(paths):
            res, _kind, peer = paths[path]
            if peer in self.total_resources[res]:
                continue
            self.total_resources[res].add(peer)
            self.total_peers.setdefault(peer, set()).add(res)
            resdir = ses.resdir(res)
            if os.path.join(resdir, "device-" + peer) in paths:
                self.any.setdefault(res, set()).add(peer)
                self.any_of.setdefault(peer, set()).add(res)
            if os.path.join(resdir, "data-" + peer) in paths or os.path.join(resdir, "replay-" + peer) in paths:
                self.member.setdefault(res, set()).add(peer)
                self.member_of.setdefault(peer, set()).add(res)
                continue
            exports = ses.get_link(os.path.join(resdir, "todo-" + peer, "exports"), 2)
            prosumer = ses.get_link(os.path.join(resdir, "actual-" + peer, "prosumer-on"), 2)
            if (peer in self.any.get(res, ()) and prosumer) or re.search(r"(^|\+)%s($|\+)" % re.escape(peer), exports):
                self.guest.setdefault(res, set()).add(peer)
                self.guest_of.setdefault(peer, set()).add(res)

    def is_member(self, res, peer):
        return peer in self.member.get(res, ())

    def is_guest(self, res, peer):
        return peer in self.guest.get(res, ())

    def member_peers(self, res=None):
        if res:
            return alphanum_sorted(self.member.get(res, ()))
        return alphanum_sorted(self.member_of)

    def guest_peers(self, res=None):
        if res:
            return alphanum_sorted(self.guest.get(res, ()))
        return alphanum_sorted(self.guest_of)

    def any_peers(self, res=None):
        if res:
            return alphanum_sorted(self.any.get(res, ()))
        return alphanum_sorted(self.any_of)

    def total_peer_list(self, res=None):
        if res:
            return alphanum_sorted(self.total_resources.get(res, ()))
        return alphanum_sorted(self.total_peers)

    def any_resources(self, peer):
        return alphanum_sorted(self.any_of.get(peer, ()))

    def member_resources(self, peer=None):
        if peer:
            return alphanum_sorted(self.member_of.get(peer, ()))
        return alphanum_sorted(self.member)

    def guest_resources(self, peer=None):
        if peer:
            return alphanum_sorted(self.guest_of.get(peer, ()))
        return alphanum_sorted(self.guest)

    def total_resource_list(self, peer=None):
        if peer:
            return alphanum_sorted(self.total_peers.get(peer, ()))
        return alphanum_sorted(self.total_resources)


def configured_peers(ses):
    return [os.path.basename(p)[3:] for p in ses.glob(ses.mpath("ips", "ip-*"))]


def nr_replicas(ses, res):
    return len(ses.glob(os.path.join(ses.resdir(res), "replay-*")))


# ------------------------------------------------------------------ primary and device

def designated_primary(ses, res, unchecked=None):
    """``_get_designated_primary``; ``unchecked=-1`` falls back to the last known primary."""
    fallback = unchecked == -1
    if fallback:
        unchecked = 1
    value = ses.get_link(os.path.join(ses.resdir(res), "primary"), unchecked or 0)
    if not value or value == "(none)":
        if fallback:
            value = ses.old_primary.get(res, "")
            if not value or value == "(none)":
                value = ses.get_link(os.path.join(ses.resdir(res), "userspace", "last-primary"), 2)
    else:
        ses.old_primary[res] = value
    return value


def device_name(ses, res, peer=None):
    name = ses.get_link(os.path.join(ses.resdir(res), "device-" + (peer or ses.host)), 1)
    return "/dev/mars/" + name if name else name


def _local_dev_path(ses, dev):
    """``/dev/mars/NAME`` under the emulation root."""
    return os.path.join(ses.paths.root, dev.lstrip("/"))


def device_exists(ses, res, peer=None):
    """Device presence: ``actual-PEER/if-on`` (buildtags <= 97 check /dev/mars directly)."""
    peer = peer or ses.host
    if peer == "(none)":
        return 0
    if peer == ses.real_host:
        buildtag = ses.get_link(ses.mpath("actual-" + peer, "buildtag"), 1)
        if not buildtag:
            buildtag = _proc_version(ses)
        match = re.search(r"([0-9]+)($|\()", buildtag or "")
        if match and int(match.group(1)) <= 97:
            return 1 if _is_blockdev(_local_dev_path(ses, device_name(ses, res, peer))) else 0
    value = ses.get_link(os.path.join(ses.resdir(res), "actual-" + peer, "if-on"), 2)
    if value == "":
        name = device_name(ses, res, peer)
        if peer == ses.real_host:
            ses.warn("Unexpected fallback to local device detection %s for %s\n" % (name, peer))
            present = _is_blockdev(_local_dev_path(ses, name)) if name else False
            if present:
                ses.warn("Unexpected fallback result: device '%s' is present\n" % name)
            else:
                ses.warn("Unexpected fallback result: device '%s' is NOT locally present\n" % name)
            return 1 if present else 0
        ses.warn("Cannot determine device presence for %s\n" % peer)
        return ""
    return value


def _proc_version(ses):
    """First word of /proc/sys/mars/version (very old modules report no buildtag link)."""
    try:
        with open(os.path.join(ses.paths.procsys, "version"), encoding="ascii") as handle:
            words = handle.read().split()
    except OSError:
        ses.err("sh: 1: cannot open /proc/sys/mars/version: No such file\n")
        return ""
    if words:
        ses.warn("Please upgrade your EXTREMELY OLD module version '%s'\n" % words[0])
    return words[0] if words else ""


def _is_blockdev(path):
    try:
        return stat.S_ISBLK(os.stat(path).st_mode)
    except OSError:
        return False


def truthy(value):
    """Perl truth of a link value: '' and '0' are false."""
    return value not in ("", "0", None, 0, False)


# ------------------------------------------------------------------ alive links

def alive_link(ses, name, peer, unchecked=2):
    return ses.get_link(ses.mpath("actual-" + peer, name), unchecked)


def stamp_value(text):
    """A ``sec.nsec`` link value in ns, or 0."""
    match = re.match(r"^\s*([0-9]+)(?:\.([0-9]*))?", text or "")
    if not match:
        return 0
    return int(match.group(1)) * NSEC + int(((match.group(2) or "") + "000000000")[:9])


# ------------------------------------------------------------------ per-resource checks

def check_res_member(ses, cmd, res):
    resdir = ses.resdir(res)
    if not ses.link_exists(os.path.join(resdir, "data-" + ses.host)):
        if ses.link_exists(os.path.join(resdir, "device-" + ses.host)):
            return
        if ses.link_exists(os.path.join(resdir, "replay-" + ses.host)):
            ses.warn("Resource '%s' seems to have been destroyed.\n" % res)
            ses.warn("Nevertheless, a replay link exists for host '%s'.\n" % ses.host)
        else:
            ses.warn("Sorry, I have not yet joined to resource '%s'\n" % res)
        if not ses.opts.force:
            ses.die("Refusing work on resource name '%s'\n" % res)
        if cmd != "leave-resource":
            ses.warn("Running '%s' is dangerous, continuing on your own risk\n" % cmd)
    check_sizes(ses, res, ses.host)


def check_sizes(ses, res, peer):
    physical = ses.get_link(os.path.join(ses.resdir(res), "actsize-" + peer), 2)
    if not physical:
        return
    logical = ses.get_link(os.path.join(ses.resdir(res), "size"), 1) or "0"
    if int(physical) < int(logical):
        ses.warn("Physical device on host '%s' has size %s, which is smaller than the logical resource size %s\n"
                 % (peer, physical, logical))
        if not ses.opts.force:
            ses.die("This is too dangerous. It cannot work. Fix it!\n")


# ------------------------------------------------------------------ logfiles and version links

def parse_replay(value):
    """``log-NNN-ORIGIN,pos,len`` -> (nr, pos, len) or None."""
    match = REPLAY_RE.search(value or "")
    if not match:
        return None
    return int(match.group(1)), int(match.group(2)), int(match.group(3))


def compare_replaylinks(first, second):
    """-1/0/+1 comparing (lognr, pos) of two replay-style values."""
    match_a = re.match(r"^log-([0-9]+)-[^,]*,([0-9]+)", first or "")
    match_b = re.match(r"^log-([0-9]+)-[^,]*,([0-9]+)", second or "")
    key_a = (int(match_a.group(1)), int(match_a.group(2))) if match_a else (0, 0)
    key_b = (int(match_b.group(1)), int(match_b.group(2))) if match_b else (0, 0)
    return (key_a > key_b) - (key_a < key_b)


def _file_size(path):
    try:
        if os.path.islink(path):
            return None
        return os.stat(path).st_size
    except OSError:
        return None


def get_amount(ses, res, peer, direction, only_files, sum_up=False):
    """marsadm ``get_amount``: bytes before/after the replay position along the logfile chain.

    Returns (sum, first_lognr, last_lognr, level)."""
    resdir = ses.resdir(res)
    level = 0
    first = logpos = oldpos = 0
    total = 0
    val0 = 0
    while True:
        found = False
        if not level:
            parsed = parse_replay(ses.get_link(os.path.join(resdir, "replay-" + peer), 1))
            if not parsed:
                return 0, 0, 0, 0
            first, second, third = parsed
            logpos = oldpos = first
            if direction < 0:
                total = second + third if sum_up else second
            else:
                val0 = second
                total = second + third if sum_up else third
        if level > 0 or direction > 0:
            value = 0
            size = _file_size(os.path.join(resdir, "log-%09d-%s" % (logpos, peer)))
            if size is not None:
                value = size
                found = True
            else:
                for path in ses.glob(os.path.join(resdir, "log-%09d-*" % logpos)):
                    size = _file_size(path)
                    if size is not None and size > value:
                        value = size
                        found = True
                    elif size is not None:
                        found = found or size >= 0
            if not only_files:
                for path in ses.glob(os.path.join(resdir, "version-%09d-*" % logpos)):
                    match = re.search(r",([0-9]+)", ses.get_link(path, 1))
                    if match:
                        value = max(value, int(match.group(1)))
                        found = True
            if not found:
                return total, first, oldpos, level
            if level > 0:
                total += value
            else:
                total = max(total, value - val0, 0)
        oldpos = logpos
        if direction > 0:
            logpos += 1
        elif direction < 0:
            logpos -= 1
            if logpos < 1:
                return total, first, oldpos, level
        else:
            return total, first, oldpos, level
        level += 1


def minmax_versions(ses, res):
    numbers = []
    for path in ses.glob(os.path.join(ses.resdir(res), "version-*")):
        match = re.search(r"/version-([0-9]+)-", path)
        if match:
            numbers.append(int(match.group(1)))
    if not numbers:
        return 0, 0
    return min(numbers), max(numbers)


POSITION_RE = re.compile(r"(log|version)-([0-9]+)-([^,:]+)(?:,([0-9]+))?")


def _position(text):
    """``log-N-ORIGIN,POS`` (or the first section of a version link) to ``(N, ORIGIN, POS)``."""
    match = POSITION_RE.search(text or "")
    if not match:
        return None
    return int(match.group(2)), match.group(3), int(match.group(4)) if match.group(4) else -1


def _predecessor(ses, resdir, number, peer):
    """Where ``peer`` stood in logfile ``number - 1``: the tail of its ``version-N`` link."""
    link = ses.get_link(os.path.join(resdir, "version-%09d-%s" % (number, peer)), 2)
    if link:
        return _position(link.rsplit(":", 1)[-1])
    older = ses.get_link(os.path.join(resdir, "version-%09d-%s" % (number - 1, peer)), 2)
    return _position(older.split(":", 1)[0]) if older else None


def common_ancestor(ses, res, one, other):
    """Walk two members' histories back to the logfile they share: ``(point, split, amount1, amount2)``.

    A history is the replay link followed backwards through the version chain.  The members have
    diverged (split brain) when their histories pass through logfiles of different origins with
    the same number, or when, in the first logfile both contain, one of them went on to a later
    logfile from a smaller position than the other reached.  An untraceable history (a missing
    link) counts as a split, as in marsadm.  The amounts are the logfile bytes each side holds
    beyond the common point.
    """
    resdir = ses.resdir(res)
    # per side: [position, depth (logfiles stepped back), host, amount]
    sides = [[_position(ses.get_link(os.path.join(resdir, "replay-" + h), 1)), 0, h, 0] for h in (one, other)]
    diverged = False
    for _step in range(100000):
        if sides[0][0] is None or sides[1][0] is None:
            return "", (1 if diverged else -1), sides[0][3], sides[1][3]
        (nr1, from1, pos1), (nr2, from2, pos2) = sides[0][0], sides[1][0]
        if nr1 != nr2 or from1 != from2:
            diverged = diverged or (nr1 == nr2)
            for entry in sides:
                if entry[0][0] == max(nr1, nr2):
                    entry[3] += max(entry[0][2], 0)
                    entry[0] = _predecessor(ses, resdir, entry[0][0], entry[2])
                    entry[1] += 1
            continue
        point = "log-%09d-%s" % (nr1, from1)
        if diverged:
            return point, 1, sides[0][3] + pos1, sides[1][3] + pos2
        if pos1 == pos2:
            split = int(bool(sides[0][1] and sides[1][1]))
            if not split:
                vers = [ses.get_link(os.path.join(resdir, "version-%09d-%s" % (nr1, e[2])), 1) for e in sides]
                split = int(bool(vers[0] and vers[1] and vers[0] != vers[1]))
            return point, split, sides[0][3], sides[1][3]
        behind = sides[0] if pos1 < pos2 else sides[1]
        return point, int(behind[1] > 0), sides[0][3] + pos1, sides[1][3] + pos2
    return "", -1, 0, 0


def detect_splitbrain(ses, res, report):
    """True when no split brain is visible: pairwise history comparison, then duplicate logfiles."""
    if res in ses.split_cache:
        return ses.split_cache[res]
    resdir = ses.resdir(res)
    hosts = sorted(os.path.basename(p)[len("replay-"):] for p in ses.glob(os.path.join(resdir, "replay-*")))
    for peer in hosts:
        alive_link(ses, "time", peer, 1)  # marsadm reads (and warns about) each member's alive stamp
    ok = True
    points = {}
    amounts = {}
    for index, host1 in enumerate(hosts):
        for host2 in hosts[index + 1:]:
            point, split, amount1, amount2 = common_ancestor(ses, res, host1, host2)
            if not split:  # the reverse walk can differ (as in marsadm)
                point, split, reverse1, reverse2 = common_ancestor(ses, res, host2, host1)
                amount1, amount2 = reverse2, reverse1
            if not split:
                continue
            ok = False
            points.setdefault(point, None)
            amounts[host1] = max(amounts.get(host1, 0), amount1)
            amounts[host2] = max(amounts.get(host2, 0), amount2)
    if report:
        for point in alphanum_sorted(points):
            ses.warn("SPLIT BRAIN of resource '%s' after logfile '%s'\n" % (res, point))
        for number, peer in enumerate(alphanum_sorted(amounts), start=1):
            if amounts[peer] > 0:
                ses.warn("   host%d = '%s' logfile_amount='%d'\n" % (number, peer, amounts[peer]))
            else:
                ses.warn("   host%d = '%s' (unknown logfile size and age)\n" % (number, peer))
    if ok:
        numbers = {}
        for path in ses.glob(os.path.join(resdir, "log-*")):
            match = re.search(r"/log-([0-9]+)-(.+)$", path)
            if match:
                numbers.setdefault(int(match.group(1)), set()).add(match.group(2))
        duplicate = next((nr for nr, origins in sorted(numbers.items()) if len(origins) > 1), None)
        if duplicate is not None:
            ok = False
            ses.warn("SPLIT BRAIN at resource '%s' detected: duplicate logfile number %d\n" % (res, duplicate))
            ses.hint("first resolve split brain by 'leave-resource' or 'invalidate'\n")
            ses.hint("if this does not help, try cleanup via 'log-purge-all'\n")
            ses.hint("if this does not help, try 'log-purge-all --force'\n")
    ses.split_cache[res] = ok
    return ok


def sync_finished(ses, res, peer):
    resdir = ses.resdir(res)
    path = os.path.join(resdir, "syncstatus-" + peer)
    if not ses.link_exists(path):
        return False
    syncstatus = int(ses.get_link(path, 1) or 0)
    size = int(ses.get_link(os.path.join(resdir, "size")) or 0)
    if size <= 0 or syncstatus < size:
        return False
    syncpos = ses.get_link(os.path.join(resdir, "syncpos-" + peer), 2)
    if syncpos:
        replay = ses.get_link(os.path.join(resdir, "replay-" + peer), 1)
        if not replay or compare_replaylinks(syncpos, replay) > 0:
            return False
    return True


def check_sync_finished(ses, res, peer, allow=False):
    check_sizes(ses, res, peer)
    lnk = os.path.join(ses.resdir(res), "actual-" + peer, "is-primary")
    recent = ses.is_recent(ses.stamp(lnk), ses.opts.window)
    is_primary = truthy(ses.get_link(lnk, 1))
    if is_primary and recent:
        return  # a primary needs no sync
    if not recent:
        ses.warn("Cannot _reliably_ determine the current role of '%s'\n" % peer)
        if is_primary:
            ses.warn("Apparently, '%s' _seems_ to be in primary role.\n" % peer)
    if not sync_finished(ses, res, peer):
        ses.warn("Sync has not yet finished on host '%s'\n" % peer)
        if peer == ses.host:
            ses.warn("Don't try to make inconsistent host '%s' the new primary!\n" % peer)
            ses.warn("Please wait until sync has finished and all logfile have been replayed.\n")
            ses.die("Refusing to switch inconsistent host '%s' to primary\n" % peer)
        ses.warn("Changing the primary role during sync is dangerous for data consistency on host '%s'!\n" % peer)
        if not allow:
            ses.out("HINT: consider the option --ignore-sync if you are sure that you want to restart the sync\n")
            ses.die("First wait for sync finished before primary handover, or use --ignore-sync\n")
    ses.out("OK, it seems that sync has finished on host '%s'.\n" % peer)


def check_sync_startable(ses, cmd, res):
    primary = designated_primary(ses, res)
    if not primary or primary == "(none)":
        ses.die("Cannot execute '%s' because noone is designated as primary.\n" % cmd)
    if primary == ses.host:
        return
    if ses.get_link(os.path.join(ses.resdir(res), "actual-" + primary, "has-emergency"), 1) not in ("", "0"):
        ses.die("Primary '%s' is in emergency mode. Cannot start sync.\nFree some space there first.\n" % primary)

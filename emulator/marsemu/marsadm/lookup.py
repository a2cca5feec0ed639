"""Reading the /mars tree the way marsadm does: membership, designated primary, logfile amounts,
device presence, split brain, and the per-resource pre-checks (``check_res`` & co)."""

import os
import re
import stat

from marsemu import common
from marsemu.marsadm.runtime import NSEC, RESERVED_ID, alphanum_sorted

ID_RE = re.compile(r"^[A-Za-z0-9_][-A-Za-z0-9_]*$")


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
        ses.die("comma-separated list '%s' has disallowed characters" % text)
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
    """marsadm ``device_name``: ``/dev/mars/`` + ``device-PEER``; the resource name when that link is
    missing or ``(none)`` (the kernel names the device the same way)."""
    name = ses.get_link(os.path.join(ses.resdir(res), "device-" + (peer or ses.host)), 1)
    if not name or name == "(none)":
        name = res
    return "/dev/mars/" + name


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
            parsed = common.parse_replay(ses.get_link(os.path.join(resdir, "replay-" + peer), 1))
            if not parsed:
                return 0, 0, 0, 0
            first, _origin, second, third = parsed
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


# ------------------------------------------------------------------ split brain
# A port of marsadm's version-link walk and split-brain check.  Each function mirrors the marsadm
# sub named in its docstring, step by step, so the two can be read side by side; the collection's
# reader (plugins/module_utils/state.py) is a separate port, and tests/emulator/
# test_splitbrain_ports.py runs both on the same trees.

VISIT_LOG_RE = re.compile(r"log-([0-9]+)-([^,]+)")
VISIT_VERSION_RE = re.compile(r"version-([0-9]+)-([^,]+)")
POSITION_RE = re.compile(r"((?:log|version)-([0-9]+)-([^,]+)(?:,([0-9]+))?)")


def _visit(ses, nr, peer):
    """marsadm ``_visit``: remember a logfile seen on a walk (read by log-purge-all in marsadm)."""
    ses.visited_pos.add((int(nr), peer))


def _parse_pos(ses, resdir, pos):
    """marsadm ``_parse_pos``: ``(point, nr, origin, logpos)`` of a replay/version position.

    ``point`` is ``log-N-ORIGIN[,POS]`` as found; ``logpos`` is -1 when the position has none.
    An unparseable position gives ``(None, 0, None, -1)`` (Perl's undef values; marsadm would
    then reuse stale regex captures, which a valid tree never reaches).
    """
    match = VISIT_LOG_RE.search(pos)
    if match:
        _visit(ses, match.group(1), match.group(2))
    else:
        match = VISIT_VERSION_RE.search(pos)
        if match:
            vers = ses.get_link(os.path.join(resdir, match.group(0)))
            count_matches = 0
            for found in VISIT_LOG_RE.finditer(vers):
                _visit(ses, found.group(1), found.group(2))
                count_matches += 1
            if not count_matches:
                ses.warn("cannot parse '%s' -> '%s'\n" % (pos, vers))
        else:
            ses.warn("cannot parse '%s'\n" % pos)
    match = POSITION_RE.search(pos)
    if not match:
        ses.warn("cannot parse position info '%s'\n" % pos)
        return None, 0, None, -1
    logpos = int(match.group(4)) if match.group(4) is not None else -1
    return match.group(1), int(match.group(2)), match.group(3), logpos


def _get_prev_pos(ses, resdir, nr, peer):
    """marsadm ``_get_prev_pos``: where ``peer`` stood in the logfile before ``nr`` ('' if unknown)."""
    path = "version-%09d-%s" % (nr, peer)
    vers = ses.get_link(os.path.join(resdir, path), 2)
    if not vers:
        # logfile nr exists but has no version link yet (or a damaged tree): take the first
        # section of the previous version link instead
        path = "version-%09d-%s" % (nr - 1, peer)
        vers = ses.get_link(os.path.join(resdir, path), 2)
        vers = vers.split(":", 1)[0]
    else:
        # the last section points to the predecessor
        vers = vers.rsplit(":", 1)[-1]
    if vers:
        _parse_pos(ses, resdir, path)
    return vers


def mark_path_transitive(ses, resdir, pos, peer):
    """marsadm ``_mark_path_transitive``: visit PEER's version chain through ``pos`` (``log-N-ORIGIN``).

    Forward: a successor version link that starts exactly at ``pos``.  Backward: every
    predecessor down to the first logfile, a missing version link bridged by the one before it.
    """
    todo = [pos]
    while todo:
        following = set()
        for here in todo:
            _point, nr, origin, logpos = _parse_pos(ses, resdir, here)
            name = "version-%09d-%s" % (nr + 1, peer)
            vers = ses.get_link(os.path.join(resdir, name), 2)
            if vers and _parse_pos(ses, resdir, vers.rsplit(":", 1)[-1])[1:] == (nr, origin, logpos):
                following.add(name)
        todo = following
    walked = set()
    while pos:
        nr = _parse_pos(ses, resdir, pos)[1]
        if nr in walked:  # a damaged chain that loops
            break
        walked.add(nr)
        _visit(ses, nr, peer)
        pos = _get_prev_pos(ses, resdir, nr, peer)


def _get_common_ancestor(ses, resdir, pos1, host1, dep1, pos2, host2, dep2):
    """marsadm ``_get_common_ancestor``: ``(point, split, total1, total2)``.

    ``split`` is false (no split brain), true (split brain; marsadm may return a path depth) or
    -1 (a history cannot be traced back, which counts as split brain too).  The totals are the
    logfile amounts beyond the common point, in marsadm's (argument-flipping) order.
    """
    total1 = total2 = 0
    while True:
        p1, nr1, from1, len1 = _parse_pos(ses, resdir, pos1)
        p2, nr2, from2, len2 = _parse_pos(ses, resdir, pos2)
        if p1 == p2:
            # the same position: a split brain only if both walked back
            split = dep1 and dep2
            if not split:  # also compare the version links there
                path1 = os.path.join(resdir, "version-%09d-%s" % (nr1, from1 or ""))
                path2 = os.path.join(resdir, "version-%09d-%s" % (nr2, from2 or ""))
                vers1 = ses.get_link(path1, 1)
                vers2 = vers1 and ses.get_link(path2, 1)
                if vers1 and vers2 and vers1 != vers2:
                    split = 1
                    total1 += len1
                    total2 += len2
            return p1, split, total1, total2
        if nr1 > nr2:
            # walk the one ahead: swap the sides (marsadm does not swap the totals back)
            pos1, host1, dep1, pos2, host2, dep2 = pos2, host2, dep2, pos1, host1, dep1
            total1, total2 = total2, total1
            continue
        if nr1 < nr2:
            total2 += len2
            vers2 = _get_prev_pos(ses, resdir, nr2, host2)
            if not vers2:
                return "", -1, total1, total2
            pos2, dep2 = vers2, dep2 + 1
            continue
        if from1 != from2:
            # the same number from different origins: split brain for sure; go on only to find
            # the split point
            vers1 = _get_prev_pos(ses, resdir, nr1, host1)
            if not vers1:
                return "", 1, total1 + len1, total2 + len2
            vers2 = _get_prev_pos(ses, resdir, nr2, host2)
            if not vers2:
                return "", 1, total1 + len1, total2 + len2
            point, _split, sub1, sub2 = _get_common_ancestor(ses, resdir, vers1, host1, dep1 + 1,
                                                             vers2, host2, dep2 + 1)
            return point, 1, sub1 + total1 + len1, sub2 + total2 + len2
        if len1 < len2:
            # one side has replayed less: only a split brain if it walked back to get here
            return p1, dep1, total1 + len1, total2 + len2
        if len2 < len1:
            return p2, dep2, total1 + len1, total2 + len2
        ses.warn("error in algorithm: %s, %d, %s, %d : %s, %d, %s, %d\n"
                 % (p1, nr1, from1, len1, p2, nr2, from2, len2))
        return "", -1, 0, 0


def get_common_ancestor(ses, resdir, host1, host2):
    """marsadm ``get_common_ancestor``: start the walk at both replay links."""
    repl1 = ses.get_link(os.path.join(resdir, "replay-" + host1), 1)
    repl2 = ses.get_link(os.path.join(resdir, "replay-" + host2), 1)
    return _get_common_ancestor(ses, resdir, repl1, host1, 0, repl2, host2, 0)


def detect_splitbrain(ses, res, report):
    """marsadm ``detect_splitbrain``: True when no split brain is visible (cached per run).

    Every pair of members is walked back to its common ancestor; if no pair diverged, two
    logfiles with the same number also mean split brain.  With ``report`` the findings go to
    stderr as marsadm prints them.
    """
    if res in ses.split_cache:
        return ses.split_cache[res]
    resdir = ses.resdir(res)
    ok = True
    alive_host_stamps = {}
    involved_logfiles = {}
    involved_hosts = {}
    missing_host_logfiles = {}
    is_likely_false_positive = 0
    i_am_primary = 0
    is_likely_outdated = 0
    hosts = [os.path.basename(p)[len("replay-"):] for p in ses.glob(os.path.join(resdir, "replay-*"))]
    for host1 in hosts:
        alive_host_stamps[host1] = alive_link(ses, "time", host1, 1)
        if not ses.is_recent(common.parse_stamp(alive_host_stamps[host1]), ses.opts.window):
            is_likely_outdated += 1
        # an Orphan-like history: the replay link names a logfile that is not here
        if host1 not in missing_host_logfiles:
            repl1 = ses.get_link(os.path.join(resdir, "replay-" + host1), 1)
            match = re.match(r"^([^,]+),", repl1)
            if not match:
                missing_host_logfiles[host1] = "(unknown name)"
            elif not _content_stamp(os.path.join(resdir, match.group(1))):
                missing_host_logfiles[host1] = match.group(1)
        for host2 in hosts:
            if host1 >= host2:  # each pair once
                continue
            re_checked = 0
            for _retry in range(2):  # a second look against races
                point, split, size1, size2 = get_common_ancestor(ses, resdir, host1, host2)
                if not split:
                    break
            while True:  # marsadm's "re_check:" label
                if split:
                    ok = False
                    if report:
                        if point:
                            log = re.sub(r",.+", "", os.path.join(resdir, point))
                            stamp = ses.stamp(log) // NSEC
                            stamp2 = ses.stamp(log.replace("/log-", "/version-")) // NSEC
                            if not stamp or (stamp2 and stamp2 < stamp):
                                stamp = stamp2  # the older of the two
                            if not involved_logfiles.get(point) or stamp < involved_logfiles[point]:
                                involved_logfiles[point] = stamp
                        elif point not in involved_logfiles:
                            involved_logfiles[point] = 0
                        # report the biggest amount seen
                        if host1 not in involved_hosts or size1 > involved_hosts[host1]:
                            involved_hosts[host1] = size1
                        if host2 not in involved_hosts or size2 > involved_hosts[host2]:
                            involved_hosts[host2] = size2
                    if not re_checked:
                        re_checked += 1
                        # the walk from the other side may give a different answer
                        point, split, size2, size1 = get_common_ancestor(ses, resdir, host2, host1)  # pylint: disable=arguments-out-of-order
                        continue
                elif ses.real_host in (host1, host2):
                    # a fresh is-primary tells a real split brain from a transient one
                    for other in (host1, host2):
                        lnk = os.path.join(resdir, "actual-" + other, "is-primary")
                        if truthy(ses.get_link(lnk, 2)) and ses.is_recent(ses.stamp(lnk), ses.opts.window):
                            if other == ses.real_host:
                                i_am_primary += 1
                            else:
                                is_likely_false_positive += 1
                break
    if involved_logfiles:
        _report_split_points(ses, res, involved_logfiles, alive_host_stamps.get(ses.real_host) or "",
                             is_likely_outdated)
    if involved_hosts:
        _report_split_hosts(ses, res, involved_hosts, alive_host_stamps, missing_host_logfiles,
                            i_am_primary, is_likely_false_positive)
    if ok:  # two logfiles with the same number
        oldnr = -1
        for path in alphanum_sorted(ses.glob(os.path.join(resdir, "log-*"))):
            digits = re.search(r"/log-([0-9]+)", path).group(1)
            nr = int(digits)
            if nr == oldnr:
                ok = False
                # marsadm prints the number as the name spells it
                ses.warn("SPLIT BRAIN at resource '%s' detected: duplicate logfile number %s\n" % (res, digits))
                ses.hint("first resolve split brain by 'leave-resource' or 'invalidate'\n")
                ses.hint("if this does not help, try cleanup via 'log-purge-all'\n")
                ses.hint("if this does not help, try 'log-purge-all --force'\n")
                break
            oldnr = nr
    ses.split_cache[res] = ok
    return ok


def _views():
    # views imports this module; its number formatting is needed only when reporting
    from marsemu.marsadm import views  # pylint: disable=import-outside-toplevel
    return views


def _content_stamp(path):
    """marsadm ``get_stamp``: mtime of what a path points to, 0 if it does not exist."""
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return 0


def _report_split_points(ses, res, involved_logfiles, my_stamp, is_likely_outdated):
    """The "SPLIT BRAIN ... after logfile" part of ``detect_splitbrain``."""
    stamp = common.parse_stamp(my_stamp)
    if not stamp:
        ses.hint("   the following warnings may result from defective hardware / network.\n")
    elif not ses.is_recent(stamp, ses.opts.window):
        ses.hint("   the following warnings are likely OUTDATED by ~%s\n"
                 % _views().seconds2human((ses.mars_time() - stamp) / NSEC))
    elif is_likely_outdated:
        count = "1 host is" if is_likely_outdated == 1 else "%d host infos are" % is_likely_outdated
        ses.hint("   %s likely OUTDATED and MIGHT be FALSE POSITIVE\n" % count)
    for point in alphanum_sorted(involved_logfiles):
        age = ""
        if involved_logfiles[point]:
            age = " age ~" + _views().seconds2human(ses.mars_time() / NSEC - involved_logfiles[point])
        ses.warn("SPLIT BRAIN of resource '%s' after logfile '%s'%s\n" % (res, point, age))


def _report_split_hosts(ses, res, involved_hosts, alive_host_stamps, missing_host_logfiles,
                        i_am_primary, is_likely_false_positive):
    """The per-host part of ``detect_splitbrain``: role, reachability and logfile amount."""
    for nr, peer in enumerate(alphanum_sorted(involved_hosts), start=1):
        size = involved_hosts[peer]
        txt = ""
        is_primary = ses.get_link(os.path.join(ses.resdir(res), "actual-" + peer, "is-primary"), 1)
        if truthy(is_primary):
            txt = " primary" if peer == ses.real_host else " reported-primary"
        elif is_primary == "":
            txt = " unknown-role"
        peer_ip = ses.get_link(ses.mpath("ips", "ip-" + peer), 1)
        stamp = alive_host_stamps.get(peer, "")
        if peer_ip == "":
            txt += " unconfigured IP"
        elif stamp == "":
            txt += " unreachable"
        elif not ses.is_recent(common.parse_stamp(stamp), ses.opts.window):
            txt += " interrupted ~" + _views().seconds2human((ses.mars_time() - common.parse_stamp(stamp)) / NSEC)
        if peer == ses.real_host:
            if i_am_primary:
                ses.hint("   host%d = '%s'%s, my PRIMARY logfile is always UPTODATE by definition.\n"
                         % (nr, peer, txt))
                continue
            if missing_host_logfiles.get(ses.real_host):
                ses.warn("   logfile '%s' is MISSING right here (%s)\n"
                         % (missing_host_logfiles[ses.real_host], ses.real_host))
            elif is_likely_false_positive:
                ses.hint("   the following warning MAY be a FALSE POSITIVE"
                         " (but I cannot determine the truth over network)\n")
        if size is not None and size > 0:
            ses.warn("   host%d = '%s'%s logfile_amount='%d' (%s)\n"
                     % (nr, peer, txt, size, _views().human_bytes(size)))
        else:
            ses.warn("   host%d = '%s'%s (unknown logfile size and age)\n" % (nr, peer, txt))


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

"""Resource membership and data commands: create-/join-/leave-/delete-resource, invalidate,
resize, fake-sync, log-rotate/cron/log-delete, log-purge-all, err-purge-all."""

import fcntl
import os
import re
import stat
import struct

from marsemu import common
from marsemu.marsadm import lookup, waits
from marsemu.marsadm.cluster import get_ip
from marsemu.marsadm.switches import switch
from marsemu.marsadm.runtime import MARSADM_VERSION, NSEC, alphanum_sorted

BLKGETSIZE64 = 0x80081272
ZERO_DIGEST = "0" * 32


# ------------------------------------------------------------------ block devices and sizes

def get_size(ses, text):
    """``k/m/g/t/p`` multiply by 1000, ``K/M/G/T/P`` by 1024; the result must be 4 KiB aligned."""
    text = str(text)
    match = re.match(r"^([0-9]+(?:\.[0-9]*)?)([kmgtpKMGTP]?)$", text)
    if not match:
        ses.die("Size argument '%s' must be a number, optionally followed by a suffix [kKmMgGtTpP]. Lowercase ="
                " multiples of 1000, Uppercase = multiples of 1024.\n" % text)
    number = float(match.group(1))
    unit = match.group(2)
    if unit:
        base = 1000 if unit.islower() else 1024
        number *= base ** ("kmgtp".index(unit.lower()) + 1)
    number = int(number)
    if number % 4096:
        ses.die("size argument '%s' evaluating to '%d' is not a multiple of 4K = 4096\n" % (text, number))
    return number


def block_device_size(ses, dev):
    """Open the disk like marsadm (O_RDWR|O_EXCL; read-only retry with --force) and return its size."""
    flags = os.O_RDWR | os.O_EXCL
    if ses.opts.force:
        try:
            os.close(os.open(dev, flags))
        except OSError:
            ses.warn("Cannot open disk device '%s' for exclusive rw access. I will retry due to --force, hopefully"
                     " you know the risk, like filesystem corruption.\n" % dev)
        flags = os.O_RDONLY
    try:
        fd = os.open(dev, flags)
    except OSError:
        return ses.die("cannot open device '%s' for exclusive rw access\n" % dev)
    try:
        try:
            size = struct.unpack("Q", fcntl.ioctl(fd, BLKGETSIZE64, b"\0" * 8))[0]
        except OSError:
            size = os.lseek(fd, 0, os.SEEK_END)
    finally:
        os.close(fd)
    return size


def is_block_device(path):
    try:
        return stat.S_ISBLK(os.stat(path).st_mode)
    except OSError:
        return False


# ------------------------------------------------------------------ create-resource / join-resource

def create_res(ses, cmd, res, dev=None, appear=None, size_arg=None, *_args):
    if not ses.mars_mounted():
        ses.die("%s is not mounted, cannot modify any resource info\n" % ses.show(ses.mars))
    create = cmd == "create-resource"
    if not dev:
        ses.die("undefined device or size argument\n")
    appear = appear or res
    lookup.check_id(ses, appear, 0, 1)
    replicas = lookup.nr_replicas(ses, res)
    if not create:
        waits.update_cluster(ses, cmd, "all", "*")
    elif replicas > 0:
        ses.warn("are you sure to run '%s'? There are %d known replicas at '%s'\n" % (cmd, replicas, res))
    resdir = ses.resdir(res)
    if create:
        if os.path.isdir(resdir):
            ses.warn("resource directory '%s' already exists\n" % res)
            members = [os.path.basename(p)[len("replay-"):] for p in ses.glob(os.path.join(resdir, "replay-*"))]
            if members:
                ses.warn("DANGER: hosts '%s' are already member of resource '%s'.\n" % (",".join(members), res))
                if not ses.opts.force:
                    ses.die("REFUSING to trash your resource!\n")
        ses.out("creating new resource '%s'\n" % res)
    elif ses.link_exists(os.path.join(resdir, "data-" + ses.host)):
        ses.warn("resource '%s' has been already joined -- this is dangerous!\n" % res)
        if not ses.opts.force:
            ses.die("refusing dangerous operation\n")
    else:
        ses.out("joining to existing resource '%s'\n" % res)

    if is_block_device(dev):
        if not dev.startswith("/"):
            ses.die("block device '%s' must be an absolute path starting with '/'\n" % dev)
        size = block_device_size(ses, dev)
        ses.out("block device '%s': determined size = %d bytes\n" % (dev, size))
        if size_arg:
            new_size = get_size(ses, size_arg)
            if new_size > size:
                ses.die("size argument '%s' is smaller than device size '%d'\n" % (size_arg, size))
            ses.out("reducing size from %d to %d\n" % (size, new_size))
            size = new_size
    elif os.path.isfile(dev):
        # marsadm would take a numeric size here; a path never parses as one
        ses.out("Using regular (sparse) file '%s' as an image file\n" % dev)
        size = get_size(ses, dev)
    else:
        size = 0
        ses.die("Device argument '%s' does not exist or is no usable block device.\n" % dev)
    if size <= 4096 * 16:
        ses.die("implausible size %d" % size)

    _check_device_name(ses, res, appear)
    err_purge_res(ses, cmd, res)
    if not create:
        activate_resource(ses, cmd, res, ses.host)

    primary = ""
    replay_nr = -1
    replay_ok = 1
    if create:
        ses.make_dir(resdir)
        ses.set_link(str(size), os.path.join(resdir, "size"))
    else:
        primary, replay_nr = _find_join_primary(ses, cmd, res, size)

    log_purge_res(ses, cmd, res)
    err_purge_res(ses, cmd, res)
    ses.finish_links()
    _check_remains(ses, cmd, res, create, replay_nr)

    ses.out("using existing device '%s'\n" % dev)
    data_path = os.path.join(resdir, "data-" + ses.host)
    ses.set_link(dev, data_path)
    if primary:
        ses.push_link(primary, dev, data_path)
    ses.out("resource '%s' will appear as local device '/dev/mars/%s'\n" % (res, appear))
    device_path = os.path.join(resdir, "device-" + ses.host)
    ses.set_link(appear, device_path)
    if primary:
        ses.push_link(primary, appear, device_path)
    for name in (os.path.join(ses.mars, "userspace"), os.path.join(resdir, "userspace"),
                 os.path.join(resdir, "defaults"), os.path.join(resdir, "defaults-" + ses.host),
                 os.path.join(resdir, "local-" + ses.host), os.path.join(resdir, "actual-" + ses.host)):
        ses.make_dir(name)
    ses.set_link("0", os.path.join(resdir, "actual-" + ses.host, "if-on"))
    todo = os.path.join(resdir, "todo-" + ses.host)
    ses.make_dir(todo)
    ses.set_link("0", os.path.join(todo, "attach"))
    ses.set_link("1", os.path.join(todo, "connect"))
    ses.set_link("1", os.path.join(todo, "sync"))
    ses.set_link("1", os.path.join(todo, "allow-replay"))
    try:
        os.unlink(os.path.join(resdir, "syncstatus-" + ses.host))
    except OSError:
        pass

    if create:
        ses.set_link(ses.host, os.path.join(resdir, "primary"))
        ses.set_link(ses.host, os.path.join(resdir, "userspace", "last-primary"))
        ses.set_link(str(size), os.path.join(resdir, "syncstatus-" + ses.host))
        startnr = ses.get_link(os.path.join(resdir, "maxnr"), 2)
        startnr = int(startnr) + 100000 if startnr and int(startnr) > 0 else 1
        fmt_old = "%09d" % (startnr - 1)
        fmt = "%09d" % startnr
        ses.set_link("log-%s-%s,0,0" % (fmt, ses.host), os.path.join(resdir, "replay-" + ses.host))
        if not ses.opts.dry_run:
            ses.safe_creat(os.path.join(resdir, "log-%s-%s" % (fmt, ses.host)))
        old_fake = "%s,log-%s-%s,0" % (ZERO_DIGEST, fmt_old, ses.host)
        ses.set_link(old_fake + ":", os.path.join(resdir, "version-%s-%s" % (fmt_old, ses.host)))
        ses.set_link("%s,log-%s-%s,0:%s" % (ZERO_DIGEST, fmt, ses.host, old_fake),
                     os.path.join(resdir, "version-%s-%s" % (fmt, ses.host)))
        if startnr > 1:
            ses.set_link(str(startnr), os.path.join(resdir, "skip-check-" + ses.host))
        ses.set_link(str(startnr), os.path.join(resdir, "maxnr"))
        ses.finish_links()
        ses.out("successfully created resource '%s'\n" % res)
    else:
        replay_ok = set_replaylink(ses, cmd, res, replay_nr, primary, "")
        ses.set_link("0", os.path.join(resdir, "syncstatus-" + ses.host))
        ses.finish_links()
        ses.trigger(3)
        waits.wait_cluster(ses, cmd, res, primary)
    ses.set_link("1", os.path.join(todo, "attach"))
    ses.finish_links()
    ses.trigger(3)
    if not create:
        for redo in (3, 2, 1):
            waits.wait_cluster(ses, cmd, res, primary, 0)
            ses.out("Checking '%s' for split brain\n" % res)
            ses.split_cache.clear()
            split_ok = lookup.detect_splitbrain(ses, res, True)
            ses.out("redo=%d resource '%s' split_ok=%d replay_ok=%d\n" % (redo, res, int(split_ok), int(replay_ok)))
            if not split_ok or not replay_ok:
                ses.warn("Race '%s' with log-rotate detected.\n" % res)
        ses.out("Successfully joined resource '%s' to primary '%s'\n" % (res, primary))
    return 0


def _check_device_name(ses, res, appear):
    for path in ses.glob(ses.mpath("resource-*", "device-" + ses.host)):
        old_res = os.path.basename(os.path.dirname(path))[len("resource-"):]
        if not old_res or old_res in (res, "(none)"):
            continue
        old_name = ses.get_link(path)
        if old_name == appear:
            if ses.link_exists(os.path.join(ses.resdir(old_res), "data-" + ses.host)):
                ses.die("Device name '/dev/mars/%s' already exists at resource '%s'\n" % (old_name, old_res))
            ses.warn("Device name '/dev/mars/%s' already exists in another resource '%s'.\n" % (old_name, old_res))
    for path in ses.glob(os.path.join(ses.resdir(res), "device-*")):
        old_name = ses.get_link(path)
        if old_name and old_name != "(none)" and old_name != appear:
            old_host = os.path.basename(path)[len("device-"):]
            ses.warn("your name '/dev/mars/%s' differs from '/dev/mars/%s' on host '%s'.\n" % (appear, old_name, old_host))
            ses.warn("this does no harm, but may be confusing.\n")


def _find_join_primary(ses, cmd, res, size):
    """Find the designated primary of a resource we join and its current logfile number."""
    resdir = ses.resdir(res)
    addr = get_ip(ses, ses.host)
    primary = lookup.designated_primary(ses, res, 1)
    for _retry in range(3):
        if primary:
            break
        ses.out("Trying to get primary info\n")
        primary = waits.update_cluster(ses, cmd, res, "*", lambda: lookup.designated_primary(ses, res, 2)) or ""
        if not isinstance(primary, str):
            primary = lookup.designated_primary(ses, res, 2)
    primary = lookup.designated_primary(ses, res, 1)
    if not os.path.isdir(resdir):
        ses.die("resource '%s' does not exist\n" % res)
    if not primary or primary == "(none)":
        ses.die("resource '%s' has no designated primary\n" % res)
    ses.finish_links()
    waits.wait_cluster(ses, cmd, res)
    res_size = int(ses.get_link(os.path.join(resdir, "size"), 1) or 0)
    if size < res_size:
        ses.warn("size of new device is only %d, but should be %d\n" % (size, res_size))
        if not ses.opts.force:
            ses.die("refusing to join due to bad size\n")
    elif size > res_size:
        ses.out("Your physical device has size %d, which is larger than the logical resource size %d.\n" % (size, res_size))
        ses.out("This does no harm, but you are wasting some space.\n")
    primary = lookup.designated_primary(ses, res)
    if primary == "(none)":
        ses.die("Sorry, joining is only possible if a designated primary exists.\n")
    if primary == ses.host:
        ses.die("implausible state: I (%s) am already designated primary of resource '%s' which I just wanted to join\n"
                % (ses.host, res))
    if not ses.link_exists(ses.mpath("ips", "ip-" + ses.host)):
        ses.die("my ip '%s' is not registered -- please run 'join-cluster' first\n" % addr)
    lookup.check_sync_startable(ses, cmd, res)
    for _retry in range(6):
        replay = ses.get_link(os.path.join(resdir, "replay-" + primary))
        match = re.match(r"^log-([0-9]+)-", replay)
        if match:
            return primary, int(match.group(1))
        ses.warn("'%s' cannot determine current primary '%s' logfile number from '%s'.\n" % (res, primary, replay))
        waits.wait_cluster(ses, cmd, res)
    return primary, ses.die("Primary '%s' info is missing for '%s'.\n" % (primary, res))


def _check_remains(ses, cmd, res, create, replay_nr):
    resdir = ses.resdir(res)
    for _retry in range(3):
        remains = []
        for kind in ("log", "version"):
            for path in ses.glob(os.path.join(resdir, "%s-*-%s" % (kind, ses.host))):
                match = re.search(r"-([0-9]+)-%s$" % re.escape(ses.host), path)
                if not create and match and int(match.group(1)) < replay_nr:
                    continue
                ses.warn("OLD REMAIN '%s'\n" % ses.show(path))
                remains.append(path)
        if not remains:
            return
        ses.warn("Resource directory has some old remains.\n")
        if ses.opts.force and not create:
            for path in remains:
                ses.warn("REMOVING remain '%s'" % ses.show(path))
                ses.create_delete(path)
            ses.finish_links()
            continue
        ses.warn("First cleanup.\n")
        extra = "delete-resource" if create else "log-purge-all"
        ses.warn("If you really want to %s, run 'marsadm %s' first.\n" % (cmd, extra))
        if not ses.opts.force:
            ses.die("REFUSING %s\n" % cmd)
        return


def activate_resource(ses, cmd, res, peer):
    """Make this host a (temporary) guest so that the kernel fetches the resource dir."""
    ses.finish_links()
    resdir = ses.resdir(res)
    retry = 3
    while not os.path.isdir(resdir):
        waits.update_cluster(ses, cmd, res, "*", lambda: os.path.isdir(resdir))
        if os.path.isdir(resdir):
            break
        if retry < 0:
            ses.die("Resource directory '%s' does not exist\n" % ses.show(resdir))
        retry -= 1
        ses.warn("Resource directory '%s' does not yet exist, fetching...\n" % ses.show(resdir))
        ses.sleep(3)
    ses.out("OK, resource directory '%s' exists.\n" % ses.show(resdir))
    size_link = os.path.join(resdir, "size")
    retry = 3
    while not ses.get_link(size_link, 2):
        waits.update_cluster(ses, cmd, res, "*", lambda: ses.get_link(size_link, 2))
        if retry < 0:
            ses.die("link '%s' does not exist.\n" % ses.show(size_link))
        retry -= 1
        ses.out("link '%s' does not yet exist, fetching...\n" % ses.show(size_link))
        ses.sleep(3)
    ses.out("OK, link '%s' exists.\n" % ses.show(size_link))
    active_path = os.path.join(resdir, "device-" + peer)
    if ses.get_link(active_path, 2):
        if_on = os.path.join(resdir, "actual-" + peer, "if-on")
        value = ses.get_link(if_on)
        if value != "" and ses.is_recent(ses.stamp(if_on)):
            ses.out("Resource '%s' was already activated at '%s'\n" % (res, peer))
            return
        ses.warn("Resource '%s' at '%s' appears as non-activated from the viewpoint of '%s'\n" % (res, peer, ses.real_host))
    ses.out("ENABLING resource '%s' at '%s'\n" % (res, peer))
    ses.set_link(res, active_path)
    ses.make_dir(os.path.join(resdir, "actual-" + peer))
    ses.set_link("0", os.path.join(resdir, "actual-" + peer, "if-on"))
    ses.finish_links()
    waits.wait_cluster(ses, cmd, res, peer, 0)
    primary = lookup.designated_primary(ses, res, 1)
    source = primary if primary and primary != "(none)" else "*"
    ses.trigger(3)
    waits.update_cluster(ses, cmd, res, source, lambda: lookup.designated_primary(ses, res, 2))


def activate_guest(ses, cmd, res, peer=None, *_args):
    """``activate-guest``: become a diskless guest (receives the resource's links); ``deactivate-guest``: stop."""
    peer = peer or ses.host
    resdir = ses.resdir(res)
    if "deactivate" in cmd:
        if not os.path.isdir(resdir):
            ses.die("resource directory '%s' does not exist.\n" % ses.show(resdir))
        if ses.glob(os.path.join(resdir, "data-" + peer)) or ses.glob(os.path.join(resdir, "replay-" + peer)):
            ses.die("peer '%s' is a storage member of resource '%s'\n" % (peer, res))
        ses.create_delete(os.path.join(resdir, "device-" + peer))
        return 0
    activate_resource(ses, cmd, res, peer)
    if not os.path.isdir(resdir):
        ses.die("Could not get resource name '%s'\n" % res)
    return 0


def set_replaylink(ses, cmd, res, log_nr, primary, msg=None):
    if msg is None:
        msg = " -- THIS IS EXTREMELY RISKY -- any inconsistencies are on your own!"
    if not primary or primary == "(none)":
        ses.die("no designated primary defined\n")
    resdir = ses.resdir(res)
    rep_path = os.path.join(resdir, "replay-" + ses.host)
    rep_val = "log-%09d-%s,0,0" % (int(log_nr), primary)
    ses.out("creating new replaylink '%s' -> '%s'\n" % (ses.show(rep_path), rep_val))
    ses.set_link(rep_val, rep_path)
    if primary != ses.host:
        ses.push_link(primary, rep_val, rep_path)
    made = _fake_versionlink(ses, cmd, res, 2, int(log_nr), primary)
    # LOG_NR as the caller has it: join strips the zeros, invalidate passes the 9 digits of the replay link
    ses.set_link("%s%s" % (log_nr, msg), os.path.join(resdir, "skip-check-" + ses.host))
    return made


def _fake_versionlink(ses, cmd, res, nr_links, log_nr, primary):
    resdir = ses.resdir(res)
    made = 0
    rounds = nr_links
    while rounds > 0 and log_nr > 0:
        new_version = os.path.join(resdir, "version-%09d-%s" % (log_nr, ses.host))
        pri_version = os.path.join(resdir, "version-%09d-%s" % (log_nr, primary))
        if primary == ses.host:
            ses.die("Cannot fake my own version link '%s'\n" % ses.show(new_version))
        retry = 3
        while True:
            value = ses.get_link(pri_version, 1)
            if value:
                ses.out("Creating new versionlink '%s' -> '%s'\n" % (ses.show(new_version), value))
                ses.set_link(value, new_version)
                made += 1
                break
            ses.warn("Primary versionlink '%s' does not exist\n" % ses.show(pri_version))
            if retry < 0:
                return 0
            retry -= 1
            waits.wait_cluster(ses, cmd, res, primary, 0)
        log_nr -= 1
        rounds -= 1
    if not made:
        ses.warn("Cannot create faked versionlink\n")
    return made


# ------------------------------------------------------------------ leave-resource / delete-resource

class LeaveState:
    """Remembers the replica count between the leave-resource phases."""
    old_nr_replicas = 0


def check_not_primary(ses, cmd, res, allow_force=False):
    """Refuse on an (actual or designated) primary; insist on a stable primary state (race guard)."""
    resdir = ses.resdir(res)
    lnk = os.path.join(resdir, "actual-" + ses.host, "is-primary")
    nr_warn = 0
    max_retry = 1 if ses.opts.force else 16
    while True:
        if lookup.truthy(ses.get_link(lnk, 1)):
            if not ses.opts.force or not allow_force:
                ses.die("operation '%s' cannot be executed on actual primary\n" % cmd)
            ses.warn("operation '%s' is forced on actual primary '%s', THIS IS RISKY\n" % (cmd, ses.host))
        if lookup.designated_primary(ses, res, 1) == ses.host:
            ses.warn("operation '%s' cannot be executed on designated primary\n" % cmd)
            if not ses.opts.force:
                ses.die("first switch the designated primary, or use --force if you are sure.\n")
            ses.warn("continuing anyway due to --force\n")
        half = ses.opts.window / 2
        actual_recent = ses.is_recent(ses.stamp(lnk), half)
        designated_recent = ses.is_recent(ses.stamp(os.path.join(resdir, "primary")), half)
        if actual_recent and not designated_recent:
            return 0
        if max_retry < 0:
            ses.warn("Sorry, the primary status on resource '%s' is UNSTABLE or FLIPPING AROUND\n" % res)
            if not ses.opts.force:
                ses.die("Please check whether there are DISTRIBUTED RACES or amok-running scripts etc.\n")
            ses.warn("You said --force, I will continue AT YOUR RISK\n")
            return 0
        max_retry -= 1
        ses.trigger()
        if not nr_warn % 4:
            ses.warn("The primary status on resource '%s' looks UNSTABLE or FLIPPING AROUND\n" % res)
        nr_warn += 1
        ses.sleep(int(ses.opts.window / 8 + 1))  # Perl sleep() truncates to whole seconds


def leave_res_phase0(ses, cmd, res, *_args):
    if lookup.nr_replicas(ses, res) > 2:
        waits.update_cluster(ses, cmd, res)
    check_not_primary(ses, cmd, res, True)
    errors = 0
    resdir = ses.resdir(res)
    for path in ses.glob(os.path.join(resdir, "todo-" + ses.host, "*")):
        if "/delete" in path[len(resdir):]:
            continue
        if lookup.truthy(ses.get_link(path, 2)):
            ses.warn("switch '%s' is not off\n" % ses.show(path))
            errors += 1
    for pattern in ("is-*", "logfile-*"):
        for path in ses.glob(os.path.join(resdir, "actual-" + ses.host, pattern)):
            if lookup.truthy(ses.get_link(path)):
                ses.warn("running status '%s' is not off\n" % ses.show(path))
                errors += 1
    if not ses.opts.force:
        waits.check_status(ses, cmd, res, "is-attached", 0, False, 1)
        if errors:
            ses.die("there were %d errors.\n" % errors)
    LeaveState.old_nr_replicas = lookup.nr_replicas(ses, res)
    return 0


def leave_res_phase1(ses, _cmd, res, *_args):
    resdir = ses.resdir(res)
    host = ses.host
    for name in ("replay", "data", "syncstatus"):
        ses.create_delete(os.path.join(resdir, "%s-%s" % (name, host)))
    for name in ("syncpos", "skip-check", "verifystatus"):
        path = os.path.join(resdir, "%s-%s" % (name, host))
        if ses.link_exists(path):
            ses.create_delete(path)
    ses.create_delete(os.path.join(resdir, "device-" + host))
    ses.create_delete(os.path.join(resdir, "actsize-" + host))
    for directory in ses.glob(os.path.join(resdir, "*-" + host)):
        if not os.path.isdir(directory) or os.path.islink(directory):
            continue
        for path in ses.glob(os.path.join(directory, "*")):
            ses.create_delete(path)
        ses.create_delete(directory)
    ses.finish_links()
    return 0


def leave_res_phase2(ses, cmd, res, *_args):
    ses.finish_links()
    ses.opts.force = 0   # purging with --force would be too dangerous here
    log_purge_res(ses, cmd, res)
    err_purge_res(ses, cmd, res)
    return 0


def leave_res_phase3(ses, cmd, res, *_args):
    ses.finish_links()
    if len(ses.glob(os.path.join(ses.resdir(res), "replay-*"))) > 1 or LeaveState.old_nr_replicas > 2:
        waits.wait_cluster(ses, cmd)
        log_purge_res(ses, cmd, res)
    err_purge_res(ses, cmd, res)
    return 0


def systemd_trigger_phase(_ses, _cmd, _res, *_args):
    """The systemd unit generator is not emulated; nothing to trigger."""
    return 0


def delete_res_phase1(ses, _cmd, res, *_args):
    resdir = ses.resdir(res)
    if not os.path.isdir(resdir):
        ses.out("resource directory '%s' does no longer exist.\n" % ses.show(resdir))
        return 0
    hosts = lookup.Membership(ses).total_peer_list(res)
    if hosts:
        if not ses.opts.force:
            ses.die("resource '%s' is not empty: first remove the hosts '%s' via leave-resource\n" % (res, ",".join(hosts)))
        ses.warn("BRUTE FORCE resource destruction: '%s' has %d members (%s) THESE ARE FINALLY TRASHED right now -- you"
                 " are RESPONSIBLE for any subsequent problems.\n" % (res, len(hosts), ",".join(hosts)))
    paths = []
    for base, dirs, files in os.walk(resdir):
        for name in dirs + files:
            paths.append(os.path.join(base, name))
    for path in sorted(paths, reverse=True):
        if re.search(r"/(maxnr$|\.deleted-)", path) or os.path.basename(path).startswith(".tmp."):
            continue
        ses.create_delete(path)
    ses.finish_links()
    return 0


# ------------------------------------------------------------------ invalidate

def invalidate_phase0(ses, cmd, res, *_args):
    nr_retry = 0
    while True:
        check_not_primary(ses, cmd, res)
        primary = lookup.designated_primary(ses, res)
        if primary == "(none)":
            ses.die("for operation '%s', some other designated primary must exist (currently there is none)\n" % cmd)
        if primary == ses.host:
            ses.die("Cannot invalidate the designated primary host '%s'\n" % primary)
        emergency = ses.get_link(os.path.join(ses.resdir(res), "actual-" + primary, "has-emergency"), 1)
        if not lookup.truthy(emergency):
            return 0
        ses.warn("Primary '%s' is in emergency mode. Cannot invalidate '%s'.\n" % (primary, res))
        nr_retry += 1
        ses.sleep(nr_retry)
        if nr_retry > 5:
            ses.warn("Primary '%s' is in emergency mode. Cannot invalidate '%s'.\n" % (primary, res))
            return 0
        waits.update_cluster(ses, cmd, res, primary)


def _switch_all(ses, cmd, res, value):
    todo = os.path.join(ses.resdir(res), "todo-" + ses.host)
    for name in ("attach", "sync", "fetch", "replay"):
        switch(ses, cmd, res, os.path.join(todo, name), value)


def invalidate_phase1(ses, cmd, res, *_args):
    _switch_all(ses, cmd, res, False)
    return 0


def invalidate_phase2(ses, cmd, res, *_args):
    if not ses.opts.force:
        for key in ("is-syncing", "is-fetching", "is-replaying", "is-attached"):
            waits.check_status(ses, cmd, res, key, 0, True)
    return 0


def _invalidate_primary_nr(ses, res):
    primary = lookup.designated_primary(ses, res)
    if not primary or primary == "(none)":
        ses.die("Cannot execute 'invalidate' because noone is designated as primary.\n")
    if primary == ses.host:
        ses.die("Cannot invalidate the designated primary host '%s'\n" % primary)
    replay = ses.get_link(os.path.join(ses.resdir(res), "replay-" + primary))
    match = re.match(r"^log-([0-9]+)-", replay)
    if not match:
        ses.die("replay link '%s' is not parsable\n" % replay)
    return primary, match.group(1)


def invalidate_phase3(ses, _cmd, res, *_args):
    replay_nr = int(_invalidate_primary_nr(ses, res)[1])
    resdir = ses.resdir(res)
    ses.set_link("0", os.path.join(resdir, "syncstatus-" + ses.host))
    ses.finish_links()
    for path in ses.glob(os.path.join(resdir, "version-*-" + ses.host)):
        match = re.search(r"/version-([0-9]+)", path)
        if match and int(match.group(1)) >= int(replay_nr):
            ses.create_delete(path)
    ses.create_delete(os.path.join(resdir, "replay-" + ses.host))
    ses.finish_links()
    return 0


def wait_effect_phase(ses, _cmd, _res, *_args):
    if not ses.opts.dry_run:
        ses.finish_links()
    return 0


def invalidate_phase5(ses, cmd, res, *_args):
    ses.opts.force = 0
    log_purge_res(ses, cmd, res)
    err_purge_res(ses, cmd, res)
    return 0


def invalidate_phase7(ses, cmd, res, *_args):
    primary, replay_nr = _invalidate_primary_nr(ses, res)
    set_replaylink(ses, cmd, res, replay_nr, primary, "")
    ses.finish_links()
    return 0


def invalidate_phase9(ses, cmd, res, *_args):
    _invalidate_primary_nr(ses, res)
    todo = os.path.join(ses.resdir(res), "todo-" + ses.host)
    for name in ("attach", "fetch", "replay"):
        switch(ses, cmd, res, os.path.join(todo, name), True)
    ses.finish_links()
    switch(ses, cmd, res, os.path.join(todo, "sync"), True)
    ses.finish_links()
    return 0


# ------------------------------------------------------------------ resize

class ResizeState:
    device_size = {}
    old_size = {}
    new_size = {}


def check_primary(ses, cmd, res, no_designated=False, no_fail=False, no_warn=False):
    lnk = os.path.join(ses.resdir(res), "actual-" + ses.host, "is-primary")
    is_primary = lookup.truthy(ses.get_link(lnk, 1)) or lookup.truthy(lookup.device_exists(ses, res))
    fail = 0
    if not is_primary:
        if not no_warn:
            ses.warn("For operation '%s' I need to be primary\n" % cmd)
        fail = 1
    if no_designated and lookup.designated_primary(ses, res) != ses.host and not no_warn:
        ses.warn("For operation '%s', I also must be the designated primary\n" % cmd)
    if not no_fail and fail:
        ses.die("Operation '%s' only works at the primary side\n" % cmd)
    return fail


def mars_device_size(ses, res):
    name = ses.get_link(os.path.join(ses.resdir(res), "device-" + ses.host))
    try:
        with open(ses.paths.device_size_file(name), encoding="ascii") as handle:
            return int(handle.read().strip() or 0) * 512
    except (OSError, ValueError):
        pass
    # Without mars.ko there is no mars!DEV in sysfs, and a lab host (root /) cannot make one
    # (the emulated kernel only publishes it below a test root). The size that sysfs file
    # shows is the size of /dev/mars/DEV itself, so read that block device instead.
    if not name:
        return 0
    try:
        handle = os.open(os.path.join(ses.paths.dev_mars, name), os.O_RDONLY)
    except OSError:
        return 0
    try:
        return os.lseek(handle, 0, os.SEEK_END)
    except OSError:
        return 0
    finally:
        os.close(handle)


def possible_size(ses, res):
    resdir = ses.resdir(res)
    paths = ses.glob(os.path.join(resdir, "actsize-*"))
    if not paths:
        ses.warn("resource %s has no actsize-* symlinks\n" % res)
    result = 0
    for path in paths:
        peer = os.path.basename(path)[len("actsize-"):]
        if not ses.get_link(os.path.join(resdir, "data-" + peer), 1):
            ses.warn("skipping stray actsize link '%s' since '%s' does not exist\n"
                     % (ses.show(path), ses.show(os.path.join(resdir, "data-" + peer))))
            continue
        size = int(ses.get_link(path) or 0)
        if not result or size < result:
            result = size
    return result


def resize_phase0(ses, cmd, res, size_arg=None, *_args):
    if not ses.module_loaded():
        ses.die("mars kernel module is not loaded. This is needed for communication with some other hosts!\n")
    new_size = 0
    if size_arg:
        new_size = get_size(ses, size_arg)
        if new_size <= 0:
            ses.die("optional size argument '%d' must be numeric and positive\n" % new_size)
        ses.out("new size: %d bytes\n" % new_size)
    check_primary(ses, cmd, res, True)
    resdir = ses.resdir(res)
    my_size = int(ses.get_link(os.path.join(resdir, "actsize-" + ses.host)) or 0)
    old_size = int(ses.get_link(os.path.join(resdir, "size")) or 0)
    ses.out("old_size=%d\n" % old_size)
    possible = possible_size(ses, res)
    ses.out("possible_size=%d\n" % possible)
    new_size = new_size or possible
    ses.out("new_size=%d\n" % new_size)
    if new_size > possible:
        ses.die("new size %d is higher than the possible size (minimum of all volumes) %d" % (new_size, possible))
    if new_size < old_size:
        ses.die("only increases of the size are possible!\n")
    if my_size > new_size:
        ses.warn("You are wasting %d bytes locally\n" % (my_size - new_size))
    ResizeState.device_size[res] = mars_device_size(ses, res)
    ResizeState.old_size[res] = old_size
    if ResizeState.device_size[res] != old_size:
        ses.warn("internal mismatch between actual device size and resource size: %d != %d\n"
                 % (ResizeState.device_size[res], old_size))
    ResizeState.new_size[res] = new_size
    return 0


def resize_phase1(ses, cmd, res, *_args):
    old_size = ResizeState.old_size.get(res) or ses.die("bad internal size value\n")
    new_size = ResizeState.new_size.get(res) or ses.die("bad internal size value\n")
    if new_size < old_size:
        ses.die("only increases of the size are possible!\n")
    check_primary(ses, cmd, res, True)
    ses.set_link(str(new_size), os.path.join(ses.resdir(res), "syncstatus-" + ses.host))
    ses.finish_links()
    ses.set_link(str(new_size), os.path.join(ses.resdir(res), "size"))
    ses.finish_links()
    return 0


def resize_phase2(ses, _cmd, res, *_args):
    new_size = ResizeState.new_size.get(res) or ses.die("bad internal size value\n")
    while True:
        current = mars_device_size(ses, res)
        if current == new_size:
            ses.out("Device size is now %d.\n" % current)
            return 0
        ses.out("Device size %d has not yet reached the new size %d.\n" % (current, new_size))
        if ses.opts.dry_run:
            return 0
        if current != ResizeState.device_size.get(res):
            ses.warn("The size has changed, but did not reach the correct value.")
            ses.warn("Assuming some rounding problems (which may occur at some device types)\n")
            return 0
        ses.sleep_timeout()


# ------------------------------------------------------------------ fake-sync

def fake_sync_phase1(ses, cmd, res, *_args):
    switch(ses, cmd, res, os.path.join(ses.resdir(res), "todo-" + ses.host, "sync"), False)
    return 0


def fake_sync_phase2(ses, cmd, res, *_args):
    waits.check_status(ses, cmd, res, "is-syncing", 0, True)
    return 0


def fake_sync_phase3(ses, _cmd, res, *_args):
    size = ses.get_link(os.path.join(ses.resdir(res), "size"))
    ses.set_link(size, os.path.join(ses.resdir(res), "syncstatus-" + ses.host))
    return 0


# ------------------------------------------------------------------ logfiles

def logrotate_res(ses, cmd, res, *_args):
    if "cron" not in cmd:
        ses.warn("deprecated: please use 'cron' instead\n")
    ses.set_link(MARSADM_VERSION, ses.mpath("actual-" + ses.host, "marsadm-version"))
    if ses.opts.force:
        ses.warn("operation %s --force is DANGEROUS\n" % cmd)
        ses.sleep(3)
    elif check_primary(ses, cmd, res, False, True, "cron" in cmd):
        return 0
    resdir = ses.resdir(res)
    pattern = os.path.join(resdir, "log-*-" + ses.host)
    ses.out("get logfiles '%s'\n" % ses.show(pattern))
    paths = alphanum_sorted(ses.glob(pattern))
    if not paths:
        ses.out("nothing to %s: no old logfiles for '%s' exist.\n" % (cmd, ses.host))
        return 0
    ses.out("found %d logfiles.\n" % len(paths))
    last = paths.pop()
    try:
        last_size = os.stat(last).st_size
    except OSError:
        last_size = 0
    if last_size == 0:
        if ses.opts.verbose:
            ses.out("an empty logfile '%s' already exists, nothing to do.\n" % ses.show(last))
        return 0
    if len(paths) >= ses.opts.thresh_logfiles and last_size / 1e9 < ses.opts.thresh_logsize:
        return 0
    number = int(re.search(r"log-([0-9]+)-", os.path.basename(last)).group(1))
    following = os.path.join(resdir, "log-%09d-%s" % (number + 1, ses.host))
    if os.path.lexists(following) and ses.raw_link(following) != common.DELETED:
        ses.warn("logfile '%s' already exists - nothing to do\n" % ses.show(following))
        return 0
    if not ses.is_recent(ses.stamp(last)):
        version = last.replace("/log-", "/version-")
        if not ses.get_link(version, 1):
            ses.warn("logfile '%s' has no corresponding versionlink '%s'\n" % (ses.show(last), ses.show(version)))
            if not ses.opts.force:
                ses.warn("do not logrotate on inconsistent /mars filesystem\n")
                return 0
    if not ses.opts.dry_run:
        ses.safe_creat(following)
    maxnr = int(ses.get_link(os.path.join(resdir, "maxnr"), 1) or 0)
    if number >= maxnr:
        maxnr = number + 1
    ses.set_link(str(maxnr), os.path.join(resdir, "maxnr"))
    return 0


def _deletable_logfiles(ses, res):
    """(lowest logfile number, first number some member still needs)."""
    resdir = ses.resdir(res)
    replays = {}
    for _restart in range(4):
        paths = ses.glob(os.path.join(resdir, "replay-*"))
        if not paths:
            ses.die("cannot find any replay symlinks\n")
        replays = {p: ses.get_link(p, 1) for p in paths}
        if all(replays.values()):
            break
    else:
        ses.die("cannot get link\n")
    numbers = [int(re.search(r"/log-([0-9]+)-", p).group(1)) for p in ses.glob(os.path.join(resdir, "log-*"))]
    if not numbers:
        ses.die("cannot find any logfiles\n")
    low, high = min(numbers), max(numbers)
    for target in replays.values():
        match = re.match(r"^log-([0-9]+)", target)
        if match and int(match.group(1)) < high:
            high = int(match.group(1))
    return low, high


def logdelete_res(ses, cmd, res, *_args):
    """Delete logfiles that every member has replayed (never the newest, never recent ones)."""
    if "cron" not in cmd:
        ses.warn("deprecated: please use 'cron' instead\n")
    resdir = ses.resdir(res)
    start = ses.mars_time()
    paths = alphanum_sorted(ses.glob(os.path.join(resdir, "log-*")))
    if not paths:
        ses.die("cannot find any logfiles\n")
    low, high = _deletable_logfiles(ses, res)
    if low < high and cmd == "log-delete-one":
        high = low + 1
    while len(paths) > 1:
        first = paths.pop(0)
        if not ses.opts.force and ses.is_recent(ses.stamp(first)):
            break
        number = int(re.search(r"/log-([0-9]+)-", first).group(1))
        if number < high:
            if ses.opts.verbose:
                ses.out("chosen '%s' for deletion\n" % ses.show(first))
            ses.create_delete(first)
    transient_join = False
    for path in ses.glob(os.path.join(resdir, "device-*")):
        value = ses.get_link(path, 1)
        if not value:
            continue
        if value == "(none)":
            ses.warn("Transient join-resource detected at '%s'\n" % ses.show(path))
            transient_join = True
        elif ses.is_recent(ses.stamp(path)):
            ses.warn("Another join-resource detected at '%s'\n" % ses.show(path))
            transient_join = True
    versions = ses.glob(os.path.join(resdir, "version-*"))
    # while a join-resource is under way, or in split brain, the version links stay (unless there are many)
    if len(versions) < ses.opts.max_deletions / 8 and (transient_join or not lookup.detect_splitbrain(ses, res, True)):
        ses.warn("Keeping some versionlinks\n")
        if not ses.opts.force:
            return 0
    for version in versions:
        number = int(re.search(r"/version-([0-9]+)-", version).group(1))
        if number >= high - 1:
            continue
        if ses.is_recent(ses.stamp(version)):
            break
        ses.create_delete(version)
    peers = {os.path.basename(p)[3:] for p in ses.glob(ses.mpath("ips", "ip-*"))}
    for pattern in (ses.mpath("todo-*", "deleted-*"), os.path.join(resdir, "todo-*", "deleted-*")):
        for path in ses.glob(pattern):
            peer = os.path.basename(path)[len("deleted-"):]
            if peer in peers or ses.stamp(path) + 3600 * NSEC >= start:
                continue
            try:
                os.unlink(path)
            except OSError:
                pass
    return 0


def cron_phase1(ses, cmd, res, *_args):
    logrotate_res(ses, cmd, res)
    ses.finish_links()
    ses.trigger(3)
    return 0


def cron_phase2(ses, cmd, res, *_args):
    return logdelete_res(ses, cmd, res)


def nothing_phase(_ses, _cmd, _res, *_args):
    return 0


def _purge_limit(ses):
    """marsadm ``_get_min_time``: the oldest ``time`` of the other peers (a peer without one counts
    as 0), but no further back than --keep-backup-hours; less the window.  Unless --force."""
    start = ses.mars_time()
    limit = start
    if not ses.opts.force:
        for peer in lookup.Membership(ses).any_peers():
            if peer != ses.host:
                limit = min(limit, common.parse_stamp(lookup.alive_link(ses, "time", peer)) or 0)
        limit = max(limit, start - ses.opts.keep_backup_hours * 3600 * NSEC)
    return limit - ses.opts.window * NSEC


def link_purge_global(ses, _cmd, _res, *_args):
    """Physically remove ``.deleted`` links every peer has seen (``_purge_limit``)."""
    limit = _purge_limit(ses)
    for base, _dirs, files in os.walk(ses.mars):
        for name in files:
            path = os.path.join(base, name)
            if ses.raw_link(path) == common.DELETED and ses.stamp(path) < limit:
                try:
                    os.unlink(path)
                except OSError:
                    pass
    return 0


# ------------------------------------------------------------------ log-purge-all / err-purge-all

def log_purge_res(ses, cmd, res, *_args):
    """Mark ``.deleted`` this host's version links and logfiles that no member's version chain reaches.

    The chains are walked as marsadm walks them (``lookup.mark_path_transitive``); the walk is
    repeated when a replay link moves to another logfile meanwhile.
    """
    if ses.opts.force:
        ses.warn("DANGEROUS OPERATION: %s --force on resource '%s'\n" % (cmd, res))
    resdir = ses.resdir(res)
    ses.visited_pos = set()
    for retries_left in range(3, -1, -1):
        situation = {}  # replay link -> the logfile it named at the start
        for kind in ("data", "replay"):
            for path in ses.glob(os.path.join(resdir, kind + "-*")):
                peer = os.path.basename(path)[len(kind) + 1:]
                replay = os.path.join(resdir, "replay-" + peer)
                target = ses.get_link(replay, 1)
                if not target:
                    continue
                ses.out("found replay link '%s' -> '%s'\n" % (ses.show(replay), target))
                situation[replay] = target.split(",")[0]  # the logfile matters, not the positions
                lookup.mark_path_transitive(ses, resdir, situation[replay], peer)
        if not situation:
            ses.out("Resource '%s' contains no valid information - there is nothing to purge\n" % res)
            return 0
        logs, to_delete = _purge_candidates(ses, resdir, set(situation.values()))
        races = 0
        for replay, old in sorted(situation.items()):
            now = ses.get_link(replay, 1).split(",")[0]
            if now != old:
                ses.warn("Race on '%s' -> '%s' instead of '%s'\n" % (ses.show(replay), now, old))
                races += 1
        if not races:
            break
        if not retries_left:
            ses.die("Detected %d, the situation is not stable\n" % races)
        ses.warn("Restarting due to %d races\n" % races)
        ses.sleep(1)
    for path in sorted(to_delete):
        ses.create_delete(path)
    missing = [(log, logs[log]) for log in alphanum_sorted(logs)
               if logs[log] >= 0 and log and not _any_exists(ses, os.path.join(resdir, log))]
    for log, count in missing:
        ses.err("info: logfile '%s' is referenced (%d), but not present.\n" % (log, count))
    if missing:
        ses.err("  Unreferenced logfiles are not necessarily bad.\n"
                "  They can regularly appear after 'leave-resource',\n"
                "  or 'invalidate', or after emergency mode,\n"
                "  or after similar operations.\n")
    ses.finish_links()
    return 0


def _any_exists(ses, path):
    """marsadm ``any_exists``: a link or a regular file, not ``.deleted``."""
    return ses.link_exists(path) or os.path.isfile(path)


def _purge_candidates(ses, resdir, start_logs):
    """``({logfile: references}, {paths to delete})`` after the walk (``ses.visited_pos``)."""
    logs = {}
    to_delete = set()
    for path in alphanum_sorted(ses.glob(os.path.join(resdir, "version-*"))):
        match = re.search(r"/(version-([0-9]+)-([^,]+))$", path)
        if not match:
            ses.die("bad path '%s'\n" % ses.show(path))
        cand, number, origin = match.group(1), int(match.group(2)), match.group(3)
        ses.out("checking '%s'\n" % cand)
        log_match = re.search(r"(log-[0-9]+-[^,:]+)", ses.get_link(path, 1))
        log = log_match.group(1) if log_match else ""
        ses.out("  corresponding logfile is '%s'\n" % log)
        if (number, origin) in ses.visited_pos:
            ses.out("  ok '%s'\n" % cand)
            logs[log] = logs.get(log, 0) + 1
            continue
        if not ses.opts.force and origin != ses.host:
            ses.out("  skipping foreign object '%s'\n" % cand)
            logs[log] = logs.get(log, 0) + 1
            continue
        if origin != ses.host:
            ses.warn("deleting foreign object from peer '%s' because you said --force\n" % origin)
        to_delete.add(path)
    for path in alphanum_sorted(ses.glob(os.path.join(resdir, "log-*"))):
        match = re.search(r"/(log-[0-9]+-(.*))$", path)
        if not match:
            ses.die("bad path '%s'\n" % ses.show(path))
        log, origin = match.group(1), match.group(2)
        ses.out("checking '%s'\n" % log)
        if logs.get(log, 0) > 0:
            ses.out("  ok '%s'\n" % log)
            logs[log] = -1
            continue
        if log in start_logs:
            ses.out("  ok start '%s'\n" % log)
            logs[log] = -1
            continue
        # as in marsadm: the bare name, looked up in the working directory, so hardly ever recent
        if not ses.opts.force and ses.is_recent(ses.stamp(log)):
            ses.out("  skipping recent object '%s'\n" % log)
            continue
        if not ses.opts.force and origin != ses.host:
            ses.out("  skipping foreign object '%s'\n" % log)
            continue
        if origin != ses.host:
            ses.warn("deleting foreign object from peer '%s' because you said --force\n" % origin)
        to_delete.add(path)
    return logs, to_delete


def err_purge_res(ses, _cmd, res, *_args):
    for base in (ses.mars, ses.resdir(res)):
        for path in ses.glob(os.path.join(base, "actual-" + ses.host, "msg-err-*")):
            ses.create_delete(path)
    ses.finish_links()
    return 0

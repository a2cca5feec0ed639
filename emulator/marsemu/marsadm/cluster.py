"""Cluster-level commands: create-/join-/leave-/merge-cluster, wait-/update-cluster and the
``lowlevel-*`` host/IP tools."""

import os
import re
import socket
import subprocess

from marsemu.marsadm import lookup, waits
from marsemu.marsadm.runtime import MARSADM_VERSION, Dying


# ------------------------------------------------------------------ IP addresses

def get_ip(ses, peer=None, ignore_missing=0):
    """marsadm ``_get_ip``: --ip options, ips/ links, then a name lookup, then own interfaces."""
    peer = peer or ses.host
    lookup.check_id(ses, peer)
    known = ses.opts.known_ips.get(peer)
    if known:
        return known
    from_link = ses.get_link(ses.mpath("ips", "ip-" + peer), 2)
    if from_link:
        if ses.opts.verbose:
            ses.err("Using IP '%s' from '%s'\n" % (from_link, ses.show(ses.mpath("ips", "ip-" + peer))))
        ses.opts.known_ips[peer] = from_link
        return from_link
    addr = _lookup_ipv4(peer)
    if addr:
        ses.err("GETENT query for '%s' found IPv4 address '%s'\n" % (peer, addr))
        ses.opts.known_ips[peer] = addr
        return addr
    if ignore_missing:
        if ignore_missing > 1:
            ses.warn("Cannot determine any IP for host  '%s'\n" % peer)
        return ""
    if peer != ses.real_host:
        ses.die("Cannot determine foreign IP for peer '%s'\n" % peer)
    interface, addr = _first_interface_ipv4()
    if addr:
        ses.err("Using IP '%s' from interface '%s'\n" % (addr, interface))
        ses.opts.known_ips[peer] = addr
        return addr
    return ses.die("Cannot determine my own IP address (%s)\n" % ses.real_host)


def _lookup_ipv4(name):
    try:
        infos = socket.getaddrinfo(name, None, socket.AF_INET)
    except (socket.gaierror, UnicodeError):
        return ""
    for info in infos:
        addr = info[4][0]
        if not addr.startswith("127."):
            return addr
    return infos[0][4][0] if infos else ""


def _first_interface_ipv4():
    try:
        text = subprocess.run(["ip", "addr", "show"], capture_output=True, text=True, check=False).stdout
    except OSError:
        return "", ""
    interface = ""
    for line in text.splitlines():
        match = re.match(r"^[0-9]+:\s([a-zA-Z_0-9]+):", line)
        if match:
            interface = match.group(1)
        if interface == "lo":
            continue
        match = re.search(r"\sinet\s(\d+\.\d+\.\d+\.\d+)", line)
        if match:
            return interface, match.group(1)
    return "", ""


# ------------------------------------------------------------------ create / join

def _create_dirs(ses):
    if not ses.mars_mounted():
        ses.die("%s is not mounted, cannot create subdirs\n" % ses.show(ses.mars))
    for name in ("ips", "userspace", "defaults", "defaults-" + ses.host, "todo-global", "actual-" + ses.host):
        ses.make_dir(ses.mpath(name))
    ses.set_link(MARSADM_VERSION, ses.mpath("actual-" + ses.host, "marsadm-version"))


def create_uuid(ses):
    if not ses.mars_mounted():
        ses.die("%s is not mounted, cannot create uuid\n" % ses.show(ses.mars))
    old = ses.get_link(ses.mpath("uuid"), 2)
    if old:
        ses.die("Cluster was already created with uuid='%s'. For safety reasons, no override is possible at"
                " marsadm level.\n" % old)
    now = ses.mars_time()
    uuid = "%s_%d.%09d" % (ses.real_host, now // 1000000000, now % 1000000000)
    ses.set_link(uuid, ses.mpath("uuid"))
    ses.finish_links()
    ses.out("New cluster UUID is '%s'\n" % uuid)


def _create_cluster(ses, cmd):
    if not os.path.isdir(ses.mars):
        ses.die("The %s directory does not exist.\n" % ses.show(ses.mars))
    if not ses.mars_mounted():
        ses.die("%s is not mounted, cannot create any cluster info\n" % ses.show(ses.mars))
    addr = get_ip(ses, ses.host)
    _create_dirs(ses)
    if cmd == "create-cluster":
        create_uuid(ses)
    ses.set_link("0", ses.mpath("defaults-" + ses.host, "sync-limit"))
    ses.set_link("(none)", ses.mpath("defaults-" + ses.host, "sync-pref-list"))
    ses.set_link(addr, ses.mpath("ips", "ip-" + ses.host))
    # as the marsadm the lab pins (WIP-qio-for-5.10) does (trace A01); the old deletion method counts in it
    ses.set_link("1", ses.mpath("todo-global", "deleted-" + ses.host))


def create_cluster(ses, cmd, _res, *_args):
    if not ses.opts.force and os.path.isdir(ses.mpath("ips")):
        ses.die("cluster is already created\n")
    if ses.module_loaded():
        ses.die("mars module is loaded, please unload first\n")
    _create_cluster(ses, cmd)
    return 0


def join_cluster(ses, cmd, peer, peer_ip=None, *_args):
    """The new (module loaded) method: placeholder uuid, own IP, then pull the real uuid via the kernel."""
    if not ses.mars_mounted():
        ses.die("%s is not mounted, cannot create any cluster info\n" % ses.show(ses.mars))
    if peer == ses.host:
        ses.die("Cannot join myself (peer='%s', host='%s')\n" % (peer, ses.host))
    lookup.check_id(ses, peer)
    old_peer_ip = get_ip(ses, peer, 2)
    if old_peer_ip and peer_ip:
        if old_peer_ip == peer_ip:
            ses.hint("the provided IP '%s' for host '%s' equals to pre-configured IP\n" % (peer_ip, peer))
        else:
            ses.die("Command '%s' cannot modify peer '%s' from pre-configured IP '%s' to another IP '%s'\n"
                    % (cmd, peer, old_peer_ip, peer_ip))
    elif not peer_ip:
        if not old_peer_ip:
            ses.die("No IP given for host '%s'\n" % peer)
        ses.hint("Using the pre-configured IP '%s' for host '%s'\n" % (old_peer_ip, peer))
        peer_ip = old_peer_ip
    else:
        ses.hint("Using the provided IP '%s' for host '%s'\n" % (peer_ip, peer))
    if ses.glob(ses.mpath("resource-*")):
        ses.warn("DANGER: some resources already exist locally!\n")
        ses.warn("DANGER: any fault is AT YOUR RISK.\n")
        if not ses.opts.force:
            ses.die("DANGER: If you are sure that no resource clash or another clash like cluster-level clash is"
                    " possible, you may re-invoke %s with '--force' option AT YOUR RISK\n" % cmd)
    _create_dirs(ses)
    if ses.module_loaded():
        if not os.path.isdir(ses.mpath("actual-" + ses.real_host)):
            ses.die("My kernel module is loaded, but directory '%s' is missing\n"
                    % ses.show(ses.mpath("actual-" + ses.real_host)))
        addr = get_ip(ses, ses.host)
        ses.out("MARS kernel module is loaded, trying the new %s method.\n" % cmd)
        old_uuid = ses.get_link(ses.mpath("uuid"), 2)
        if not old_uuid or old_uuid == "(any)":
            if not old_uuid:
                ses.set_link("(any)", ses.mpath("uuid"))
            ses.set_link(addr, ses.mpath("ips", "ip-" + ses.host))
            peer_known = ses.link_exists(ses.mpath("ips", "ip-" + peer))
            if not peer_known:
                ses.set_link(peer_ip, ses.mpath("ips", "ip-" + peer))
            # preliminary links, stamped one second after the epoch: any real value wins
            ses.finish_links(1000000000)
            ses.trigger()
            ses.out("Update local '%s' information\n" % ses.real_host)
            waits.update_cluster(ses, cmd, "all", ses.real_host)
            if peer_known:
                ses.out("Update peer '%s' information\n" % peer)
                waits.update_cluster(ses, cmd, "all", peer)
            ses.set_link(addr, ses.mpath("ips", "ip-" + ses.host))
            ses.set_link("0", ses.mpath("defaults-" + ses.host, "sync-limit"))
            ses.set_link("(none)", ses.mpath("defaults-" + ses.host, "sync-pref-list"))
            deleted = ses.mpath("todo-global", "deleted-" + ses.host)
            if not ses.link_exists(deleted):
                ses.set_link("1", deleted)
            ses.finish_links()
            ses.push_link(peer, addr, ses.mpath("ips", "ip-" + ses.host))
            ses.out("Checking uuid\n")
            new_uuid = ses.get_link(ses.mpath("uuid"), 1)
            for round_nr in range(1, 6):
                ses.trigger(3)
                ses.sleep(3)
                ses.out("... update from %s round %d\n" % (peer, round_nr))
                waits.update_cluster(ses, cmd, "all", peer)
                new_uuid = ses.get_link(ses.mpath("uuid"))
                if new_uuid and new_uuid != "(any)":
                    break
                ses.push_link(peer, addr, ses.mpath("ips", "ip-" + ses.host))
            if new_uuid and new_uuid != "(any)":
                ses.out("Successfully joined cluster, uuid='%s'\n" % new_uuid)
                return 0
            ses.warn("Unable to determine the remote cluster uuid.\n")
        else:
            ses.warn("Cluster uuid '%s' already present, cannot use the new %s method\n" % (old_uuid, cmd))
    ses.out("Falling back to the old ssh/rsync based %s method (peer='%s' peer_ip='%s')\n" % (cmd, peer, peer_ip))
    if ses.module_loaded():
        ses.die("OLD method: MARS module is loaded, please unload first before using ssh\n")
    # the emulator has no ssh/rsync transport between hosts
    return ses.die("SSH to '%s' does not work\n" % peer)


def leave_cluster(ses, cmd, *_args):
    if not ses.module_loaded():
        ses.die("mars kernel module is not loaded. This is needed for communication with some other hosts!\n")
    if ses.glob(ses.mpath("resource-*", "data-" + ses.host)) and not ses.opts.force:
        ses.die("I am member of some resources\n")
    if not ses.opts.force:
        waits.wait_cluster(ses, cmd)
    for path in ses.glob(ses.mpath("actual-*", "*-" + ses.host)):
        ses.create_delete(path)
    ses.create_delete(ses.mpath("ips", "ip-" + ses.host))
    ses.finish_links()
    if not ses.opts.force:
        waits.wait_cluster(ses, cmd)
    for path in ses.glob(ses.mpath("actual-*", "*-" + ses.host)):
        ses.create_delete(path)
    ses.create_delete(ses.mpath("todo-global", "deleted-" + ses.host))
    ses.finish_links()
    if not ses.opts.force:
        waits.wait_cluster(ses, cmd)
    if ses.host == ses.real_host:
        _rmmod(ses)
    patterns = []
    for prefix in ("", "resource-*"):
        for kind in ("todo", "actual"):
            patterns.append((os.path.join(ses.mars, prefix, kind + "-*", "*-" + ses.host),
                             os.path.join(ses.mars, prefix, kind + "-" + ses.host)))
    for files, directory in patterns:
        for path in ses.glob(files):
            try:
                os.unlink(path)
            except OSError:
                pass
        for path in ses.glob(directory):
            try:
                os.rmdir(path)
            except OSError:
                pass
    return 0


def _rmmod(ses):
    """``rmmod mars``; MARS_EMU_RMMOD names the emulator's replacement (under a test root: none)."""
    command = os.environ.get("MARS_EMU_RMMOD")
    if command is None and ses.paths.root in ("", "/"):
        command = "rmmod mars"
    if not command or ses.opts.dry_run:
        return
    try:
        subprocess.run(command, shell=True, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except OSError:
        pass


def merge_cluster(ses, cmd, peer=None, peer_ip=None, *_args):
    uuid = ses.raw_link(ses.mpath("uuid")) or ""
    if cmd.endswith("-list"):
        ses.out("UUID: %s\n" % uuid)
        ses.out("IPs:\n")
        for path in ses.glob(ses.mpath("ips", "*")):
            ses.out("%s\n" % ses.show(path))
        ses.out("RESOURCEs:\n")
        for path in ses.glob(ses.mpath("resource-*")):
            ses.out("%s\n" % ses.show(path))
        return 0
    if not peer:
        ses.die("No peer argument given")
    if peer == ses.host:
        ses.die("Cannot merge myself (peer='%s', host='%s')\n" % (peer, ses.host))
    if not ses.link_exists(ses.mpath("uuid")):
        ses.die("A cluster UUD '%s/uuid' does not exist. Please use 'join-cluster instead.\n" % ses.show(ses.mars))
    ses.out("Using NEW %s without ssh\n" % cmd)
    if peer_ip:
        ses.out("Given on command line: peer '%s' has IP '%s'\n" % (peer, peer_ip))
    else:
        peer_ip = get_ip(ses, peer)
        ses.out("Determined: peer '%s' appears to have IP '%s'\n" % (peer, peer_ip))
    if not ses.module_loaded():
        ses.die("mars kernel module is not loaded. This is needed for communication with some other hosts!\n")
    probe_dir = ses.mpath("probe-" + ses.real_host)
    os.makedirs(probe_dir, exist_ok=True)
    got = os.path.join(probe_dir, "got-" + peer)
    ses.trigger("f %s %s %s" % (peer, peer_ip, ses.show(probe_dir)))
    while not ses.raw_link(got):
        ses.sleep_timeout(1)
    remote = os.path.join(probe_dir, ses.show(ses.mars).lstrip("/"))
    remote_uuid = ses.get_link(os.path.join(remote, "uuid"), 2)
    if remote_uuid and remote_uuid != uuid:
        local_res = {os.path.basename(p) for p in ses.glob(ses.mpath("resource-*"))}
        remote_res = {os.path.basename(p) for p in ses.glob(os.path.join(remote, "resource-*"))}
        conflicts = local_res & remote_res
        if conflicts:
            ses.die("cannot merge cluster '%s' due to %d conflicts\n" % (remote_uuid, len(conflicts)))
    if cmd.endswith("-check"):
        ses.out("merge with '%s' looks possible\n" % peer)
        return 0
    for path in ses.glob(os.path.join(remote, "ips", "ip-*")):
        ses.set_link(ses.get_link(path, 2), ses.mpath("ips", os.path.basename(path)))
    ses.finish_links()
    for path in ses.glob(ses.mpath("ips", "ip-*")):
        ses.push_link(peer, ses.get_link(path, 2), path)
    return 0


# ------------------------------------------------------------------ lowlevel

def lowlevel_ls_host_ips(ses, _cmd, *_args):
    for path in ses.glob(ses.mpath("ips", "ip-*")):
        peer = os.path.basename(path)[3:]
        ses.out("%s %s\n" % (peer, ses.get_link(path, 1)))


def lowlevel_set_host_ip(ses, _cmd, peer=None, addr=None, *_args):
    lookup.check_id(ses, peer or "", 0, 1)
    if not addr:
        addr = get_ip(ses, peer)
    path = ses.mpath("ips", "ip-" + peer)
    old = ses.get_link(path, 2) or ""
    ses.out("Set host '%s' IP from '%s' to '%s'\n" % (peer, old, addr))
    ses.set_link(addr, path)
    for other in lookup.Membership(ses).total_peer_list():
        if other != peer:
            ses.push_link(other, addr, path)


def lowlevel_delete_host(ses, _cmd, peer=None, *_args):
    if ses.opts.force:
        try:
            lookup.check_id(ses, peer or "", True)
        except Dying:
            ses.warn("ATTENTION - you said --force, thus I will continue AT YOUR RISK\n")
    else:
        lookup.check_id(ses, peer or "", True)
    path = ses.mpath("ips", "ip-" + peer)
    old = ses.get_link(path)
    ses.out("Removing host '%s' old IP '%s'\n" % (peer, old))
    for other in lookup.Membership(ses).total_peer_list():
        if other != peer:
            ses.push_link(other, ".deleted", path)
    ses.create_delete(path)


# ------------------------------------------------------------------ waits as commands

def wait_cluster_cmd(ses, cmd, res, *args):
    """``wait-cluster [hostspec]`` / ``wait-connect RES``: the argument of wait-cluster is a host filter."""
    if cmd == "wait-connect":
        return waits.wait_cluster(ses, cmd, res, "*")
    return waits.wait_cluster(ses, cmd, "all", (args[0] if args else "") or "*")


def update_cluster_cmd(ses, cmd, _res, *args):
    return waits.update_cluster(ses, cmd, "all", (args[0] if args else "") or "*")

"""Everything that waits for the kernel: cluster liveness (``actual-PEER/time``), indicators
(``actual-HOST/is-*``), switches (``todo-HOST/*``) and the /dev/mars device."""

import os
import re

from marsemu import common
from marsemu.marsadm import lookup
from marsemu.marsadm.runtime import NSEC, RESERVED_ID, alphanum_sorted

INDICATOR_TABLE = {
    "attach": "is-attached", "attached": "is-attached",
    "replay": "is-replaying", "replaying": "is-replaying",
    "fetch": "is-copying", "fetching": "is-copying", "copy": "is-copying", "copying": "is-copying",
    "sync": "is-syncing", "syncing": "is-syncing",
    "primary": "is-primary", "secondary": "is-primary",
}
SWITCH_TABLE = {
    "attach": "attach", "attached": "attach", "fetch": "fetch", "connect": "fetch",
    "replay": "replay", "sync": "sync", "primary": "primary", "secondary": "secondary",
}


def correct_path(path):
    """Map command-level names to on-disk switch/indicator names (fetch->connect etc.)."""
    path = re.sub(r"(/is-attach)[a-z]*$", r"\1ed", path)
    path = re.sub(r"(/is-)(fetch)[a-z]*$", r"\1copy", path)
    path = re.sub(r"(/is-)(apply)[a-z]*$", r"\1replay", path)
    path = re.sub(r"(/is-(copy|replay|sync))[a-z]*$", r"\1ing", path)
    path = re.sub(r"(/is-)(primary|secondary)[a-z]*$", r"\1primary", path)
    path = re.sub(r"(/fetch)[a-z]*$", "/connect", path)
    path = re.sub(r"(/apply)[a-z]*$", "/allow-replay", path)
    path = re.sub(r"(/replay)[a-z]*$", "/allow-replay", path)
    path = re.sub(r"(/todo-.*/(primary|secondary))[a-z]*$", "/primary", path)
    return path


def get_alive_links(ses, res, name="alive", hosts="*", non_participating=False):
    """The ``actual-PEER/<name>`` values of the peers relevant for ``res``."""
    if not res or res == "all" or "," in res:
        res = "*"
    member = lookup.Membership(ses)
    if hosts == ses.real_host:
        peer_list = [ses.real_host]
    elif non_participating:
        peer_list = member.total_peer_list()
    else:
        peer_list = member.any_peers(res if res != "*" else None)
    peers = set()
    for peer in peer_list:
        if peer == ses.host and hosts != ses.host:
            continue
        if RESERVED_ID.match(peer):
            continue
        if non_participating:
            peers.add(peer)
        if hosts and hosts != "*":
            if not re.search(r"(^|[+,{}])%s($|[+,{}])" % hosts, peer):
                continue
        peers.add(peer)
    if hosts == ses.host:
        peers.add(ses.host)
    return {peer: lookup.alive_link(ses, name, peer, 2) for peer in peers}


def wait_cluster(ses, _cmd, res=None, hosts="*", abort=None, trigger_code=None, condition=None):
    """Trigger the kernel and wait until every relevant peer's ``time`` advanced (or looks dead)."""
    if not res or "," in res:
        res = "all"
    hosts = hosts or "*"
    if abort is None:
        abort = ses.opts.force
    if not trigger_code:
        trigger_code = 3 if "*" in hosts else 2
    non_participating = trigger_code >= 8
    ses.timeout_budget = None
    ses.finish_links()
    if hosts == ses.real_host and kernel_strategy(ses) >= 5:
        return 0
    restarts = 3
    resets = 1
    while True:
        ses.out("Ping %s trigger=%s\n" % (hosts, trigger_code))
        ses.trigger(trigger_code)
        old_status = get_alive_links(ses, res, "time", hosts, non_participating)
        total = len(old_status)
        start = ses.mars_time()
        progress = {peer: (1 if non_participating else 0) for peer in old_status}
        if non_participating:
            res_txt = "any known or unknown"
        elif res == "all":
            res_txt = "locally mentioned"
        else:
            res_txt = "resource '%s'" % res
        if 0 < total < 10:
            ses.out("Wait for answers from %s peer(s) %s\n" % (res_txt, ",".join(alphanum_sorted(old_status))))
        else:
            ses.out("Wait for answers from %d  peer(s) (%s)\n" % (total, res_txt))
        delta = (ses.opts.window / 2 if ses.opts.window > 0 else 30) * NSEC
        restart = False
        while True:
            if condition:
                status = condition()
                if status:
                    return status
            dead = alive = unknown = 0
            status = get_alive_links(ses, res, "time", hosts, non_participating)
            now = ses.mars_time()
            for peer, value in status.items():
                if peer == ses.host and hosts != ses.host:
                    continue
                if not value:
                    ip_stamp = ses.stamp(ses.mpath("ips", "ip-" + peer))
                    if ip_stamp and ip_stamp + delta < now and ip_stamp > NSEC:
                        dead += 1
                    elif start + delta < now:
                        dead += 1
                    else:
                        unknown += 1
                    continue
                if not old_status.get(peer):
                    ses.warn("Need restart for getting more 'time' links\n")
                    if restarts > 0:
                        restarts -= 1
                        restart = True
                        break
                    old_status[peer] = ""
                if not re.match(r"^[0-9.]+$", value):
                    dead += 1
                    continue
                stamp = common.parse_stamp(value)
                old = common.parse_stamp(old_status.get(peer))
                if stamp > old and stamp > start and progress.get(peer, 0) <= 0:
                    alive += 1
                    progress[peer] = progress.get(peer, 0) - 1
                elif stamp > old and stamp > start:
                    progress[peer] -= 1
                    unknown += 1
                elif stamp + delta < now and old + delta < now:
                    dead += 1
                else:
                    unknown += 1
            if restart:
                break
            if unknown:
                ses.trigger(trigger_code)
                if not resets:
                    old_status = status
                resets += 1
            else:
                if not dead:
                    ses.out("%d/%d peer(s) seem to be alive\n" % (alive, total))
                else:
                    ses.warn("%d/%d peer(s) seem to be alive, and %d peer(s) seem to be dead / not reachable\n"
                             % (alive, total, dead))
                    if abort:
                        ses.die("aborting (--force was not given)\n")
                return 0
            # an exhausted budget only warns: unknown peers turn "dead" after window/2 anyway
            ses.sleep_timeout(1, True)


def check_res(ses, res):
    """The resource dir must exist (a unique /dev/mars name is accepted as an alias)."""
    if not os.path.isdir(ses.resdir(res)):
        wait_cluster(ses, "wait-cluster", "all", "*", 0)
    if os.path.isdir(ses.resdir(res)):
        return res
    found = []
    for path in ses.glob(ses.mpath("resource-*", "device-" + ses.host)):
        if ses.get_link(path, 2) == res:
            found.append(path)
    if len(found) != 1:
        ses.die("resource '%s' does not exist (%d replacements found)\n" % (res, len(found)))
    new = os.path.basename(os.path.dirname(found[0]))[len("resource-"):]
    ses.warn("substituting bad resource name '%s' by uniquely matching resource name '%s'\n" % (res, new))
    return new


def update_cluster(ses, cmd, res=None, hosts="*", condition=None):
    """``wait_cluster`` with trigger 8 (full fetch, also from non-member peers)."""
    if not res or "," in res:
        res = "all"
    return wait_cluster(ses, cmd, res, hosts or "*", 0, 8, condition)


def kernel_strategy(ses):
    """Cluster-wide minimum of the kernels' strategy versions (``features=4,5,…``)."""
    versions = []
    for path in ses.glob(ses.mpath("actual-*", "features")):
        match = re.match(r"^[0-9]+,([0-9]+)", ses.get_link(path, 2))
        if match:
            versions.append(int(match.group(1)))
    return min(versions) if versions else 0


def _messages(ses, key, val, wait, inv=False):
    table = {"is-attached": "attach", "is-syncing": "sync", "is-copying": "fetch",
             "is-replaying": "replay", "is-primary": "primary"}
    key_msg = table.get(key, key)
    val_msg = "on" if val else "off"
    wait_msg = ("waiting %s until" % ses.opts.timeout) if wait else "ensuring that"
    new_val = (not val) if inv else val
    action = ("'resume-" if new_val else "'pause-") + key_msg + "'"
    if key_msg == "primary":
        action = "'%s'" % key_msg if new_val else "'secondary' (or better 'primary' on another host)"
    elif key_msg == "attach":
        action = "'%s'" % key_msg if new_val else "'detach'"
    action = "Use %s and/or wait until it has really succeeded." % action
    if ses.opts.verbose:
        action += (" Notice that MARS is an ASYNCHRONOUS system, where both execution of actions, as well as"
                   " propagation over the network may take some time.")
    return key_msg, val_msg, wait_msg, action


def _num(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def check_todo(ses, cmd, res, key, val, wait, unchecked=0, inv=False):
    """Check (or wait for) a ``todo-HOST`` switch."""
    msg_key = key  # messages keep the command-level name ("fetch"), the path uses "connect"
    key = key.replace("fetch", "connect")
    path = correct_path(os.path.join(ses.resdir(res), "todo-" + ses.host, key))
    while True:
        link = ses.get_link(path, unchecked)
        if key == "primary":
            link = 1 if link == ses.host else 0
        elif key == "secondary":
            link = 1 if link == "(none)" else 0
        key_msg, val_msg, wait_msg, action = _messages(ses, msg_key, val, wait, inv)
        if inv:
            if _num(link) != val:
                break
            ses.out("%s switch '%s' != '%s'....\n" % (wait_msg, key, val))
            if not wait:
                ses.die("Cannot execute %s on resource %s: todo-switch '%s' must not be %s. %s\n"
                        % (cmd, res, key_msg, val_msg, action))
        else:
            if _num(link) == val:
                break
            ses.out("%s switch '%s' == '%s'....\n" % (wait_msg, key, val))
            if not wait:
                ses.die("Cannot execute %s on resource %s: todo-switch '%s' must be %s, but actually has value '%s'. %s\n"
                        % (cmd, res, key_msg, val_msg, link, action))
        ses.sleep_timeout()
    ses.out("OK, '%s' has acceptable value '%s'\n" % (ses.show(path), link))


def check_status(ses, cmd, res, key, val, wait, unchecked=0, inv=False, peer=None):
    """Check (or wait for) an ``actual-PEER`` indicator; dies with "Timeout" when it never comes."""
    peer = peer or ses.host
    path = correct_path(os.path.join(ses.resdir(res), "actual-" + peer, key))
    while True:
        link = ses.get_link(path, unchecked) or "0"
        key_msg, val_msg, wait_msg, action = _messages(ses, key, val, wait, inv)
        if inv:
            if _num(link) != val:
                break
            ses.out("at %s: %s actual '%s' != '%s'...\n" % (peer, wait_msg, key, val))
            if not wait:
                ses.die("Cannot execute %s on resource %s: actual '%s' must not be %s. %s Also ensure that your command"
                        " _can_ succeed.\n" % (cmd, res, key_msg, val_msg, action))
        else:
            if _num(link) == val:
                break
            ses.out("at %s: %s actual '%s' == '%s'...\n" % (peer, wait_msg, key, val))
            if not wait:
                ses.die("Cannot execute %s on resource %s: actual '%s' must be %s. %s Also ensure that your command"
                        " _can_ succeed.\n" % (cmd, res, key_msg, val_msg, action))
        if ses.sleep_timeout(1, True):
            ses.die("Timeout\n")
    ses.out("OK at %s: '%s' has acceptable value '%s'\n" % (peer, ses.show(path), link))


def error_text(ses, res):
    """Non-OK ``msg-err-*``/``msg-wrn-*`` lines of this host (shown while waiting for the device)."""
    text = ""
    for path in ses.glob(os.path.join(ses.resdir(res), "actual-" + ses.host, "msg-*")):
        value = ses.get_link(path, 2)
        if value and not value.startswith("OK") and re.search(r"msg-(err|wrn)", path):
            text += "%s: %s\n" % (os.path.basename(path)[4:], value)
    return text


def check_mars_device(ses, cmd, res, wait, inv):
    """Wait until /dev/mars/<dev> is present (or gone, with ``inv``)."""
    dev = lookup.device_name(ses, res)
    backoff = 1
    rounds = 0
    if inv:
        while lookup.truthy(lookup.device_exists(ses, res)):
            if not wait:
                ses.die("cannot execute %s: device '%s' has not yet disappeared\n" % (cmd, dev))
            ses.warn("device '%s' has not yet disappeared\n" % dev)
            ses.sleep_timeout(backoff)
            rounds += 1
            if backoff < 10 and rounds > 5:
                rounds = 0
                backoff += 1
        ses.out("device '%s' is no longer present\n" % dev)
        return
    primary = lookup.designated_primary(ses, res)
    if primary != ses.host:
        ses.die("for operation '%s', I should be the designated primary\n" % cmd)
    while not lookup.truthy(lookup.device_exists(ses, res)):
        text = error_text(ses, res)
        if text:
            ses.out(text)
        if re.search("error", text, re.I | re.M):
            ses.die("aborting due to errors\n")
        if not wait:
            ses.die("cannot execute %s: device '%s' not yet present\n" % (cmd, dev))
        ses.out("device '%s' not yet present\n" % dev)
        ses.sleep_timeout(backoff)
        rounds += 1
        if backoff < 10 and rounds > 5:
            rounds = 0
            backoff += 1
    ses.out("device '%s' is present\n" % dev)


def wait_cond(ses, cmd, res, specific=""):
    """``wait-resource RES [is-|has-]{attach,fetch,replay,sync,primary,secondary,device}[-on|-off]``."""
    specific = specific or ""
    is_actual = bool(re.match(r"^(is|has)-", specific))
    specific = re.sub(r"^(is|has)-", "", specific)
    specific = re.sub(r"^todo-", "", specific)
    is_on = not re.search(r"-(off|0)$", specific)
    specific = re.sub(r"-(off|0)$", "", specific)
    specific = re.sub(r"-(on|1)$", "", specific)
    if is_actual:
        if specific == "device":
            check_mars_device(ses, cmd, res, True, not is_on)
            return 0
        if specific not in INDICATOR_TABLE:
            ses.die("actual indicator '%s' does not exist\n" % specific)
        name = INDICATOR_TABLE[specific]
        if specific == "secondary":
            is_on = not is_on
        check_status(ses, cmd, res, name, 1 if is_on else 0, True, 1)
    else:
        if specific not in SWITCH_TABLE:
            ses.die("button '%s' does not exist\n" % specific)
        check_todo(ses, cmd, res, SWITCH_TABLE[specific], 1 if is_on else 0, True, 1)
    return 0

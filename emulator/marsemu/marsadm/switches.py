"""The "switch" commands: attach/detach, up/down, pause-/resume-{sync,fetch,replay}[-local|-global],
connect/disconnect, set-emergency-limit, systemd unit settings and the userspace link tools."""

import os

from marsemu.marsadm import lookup, waits
from marsemu.marsadm.runtime import Dying


def switch(ses, cmd, res, path, on):
    """Set one ``todo-*`` switch; already-set switches are reported and left alone."""
    value = "1" if on else "0"
    path = waits.correct_path(path)
    old = ses.get_link(path, 1)
    # Perl truth: an old "0" never counts as "already", so pausing always rewrites the link
    if lookup.truthy(old) and old == value:
        if cmd:
            ses.out("%s on resource %s is already activated\n" % (cmd, res))
        return
    ses.set_link(value, path)
    if cmd:
        ses.out("successfully started %s on resource %s\n" % (cmd, res))


def _todo(ses, res, name, host=None):
    return os.path.join(ses.resdir(res), "todo-" + (host or ses.host), name)


def _all_todo_dirs(ses, res):
    return [p for p in ses.glob(os.path.join(ses.resdir(res), "todo-*")) if os.path.isdir(p)]


# ------------------------------------------------------------------ attach / detach

def attach_phase0(ses, cmd, res, *_args):
    if ses.opts.force:
        return 0
    if cmd == "detach" and lookup.truthy(ses.get_link(os.path.join(ses.resdir(res), "actual-" + ses.host, "open-count"), 1)):
        if ses.get_link(os.path.join(ses.resdir(res), "systemd-want"), 2):
            ses.out("IMPORTANT: Relying on systemd for %s of resource '%s'\n" % (cmd, res))
            switch(ses, cmd, res, _todo(ses, res, "attach"), False)
            ses.finish_links()
            return 0
        ses.die("device '%s' is in use\n" % lookup.device_name(ses, res))
    return 0


def attach_phase0b(ses, cmd, res, *_args):
    """With systemd units: wait until the units have closed the device."""
    if cmd != "detach":
        return 0
    if not systemd_present(ses, res):
        return 0
    waits.check_status(ses, cmd, res, "open-count", 0, True)
    waits.wait_cluster(ses, cmd)
    return 0


def attach_phase1(ses, cmd, res, *_args):
    switch(ses, cmd, res, _todo(ses, res, "attach"), cmd != "detach")
    return 0


def attach_phase2(ses, cmd, res, *_args):
    detach = cmd == "detach"
    if ses.opts.force:
        return 0
    if not ses.module_loaded():
        ses.warn("Kernel module not loaded: %s will become effective after modprobe\n" % cmd)
        return 0
    waits.check_status(ses, cmd, res, "is-attached", 0 if detach else 1, True)
    if detach:
        waits.check_mars_device(ses, cmd, res, True, True)
        waits.check_status(ses, cmd, res, "is-replaying", 0, True)
        waits.check_status(ses, cmd, res, "is-syncing", 0, True)
    return 0


# ------------------------------------------------------------------ fetch / sync / replay

def fetch_global(ses, cmd, res, *_args):
    pause = "disconnect" in cmd or "pause" in cmd
    for path in _all_todo_dirs(ses, res):
        switch(ses, cmd, res, os.path.join(path, "connect"), not pause)
    return 0


def fetch_local(ses, cmd, res, *_args):
    pause = "disconnect" in cmd or "pause" in cmd
    switch(ses, cmd, res, _todo(ses, res, "connect"), not pause)
    return 0


def sync_global(ses, cmd, res, *_args):
    pause = "pause" in cmd
    if not pause:
        lookup.check_sync_startable(ses, cmd, res)
    for path in _all_todo_dirs(ses, res):
        switch(ses, cmd, res, os.path.join(path, "sync"), not pause)
    return 0


def sync_local(ses, cmd, res, *_args):
    pause = "pause" in cmd
    if not pause:
        lookup.check_sync_startable(ses, cmd, res)
    switch(ses, cmd, res, _todo(ses, res, "sync"), not pause)
    return 0


def replay_global(ses, cmd, res, *_args):
    pause = "pause" in cmd
    for path in _all_todo_dirs(ses, res):
        switch(ses, cmd, res, os.path.join(path, "replay"), not pause)
    return 0


def replay_local(ses, cmd, res, *_args):
    switch(ses, cmd, res, _todo(ses, res, "replay"), "pause" not in cmd)
    return 0


# ------------------------------------------------------------------ up / down

def up_phase0(ses, cmd, res, *_args):
    return attach_phase0(ses, "detach" if cmd == "down" else "attach", res)


def up_phase1(ses, cmd, res, *_args):
    if cmd == "down":
        replay_local(ses, "pause-replay-local", res)
        sync_local(ses, "pause-sync-local", res)
        fetch_local(ses, "pause-fetch", res)
        attach_phase1(ses, "detach", res)
    else:
        attach_phase1(ses, "attach", res)
        fetch_local(ses, "resume-fetch-local", res)
        saved = ses.error_count
        try:
            sync_local(ses, "resume-sync-local", res)
        except Dying:
            # marsadm ignores a refused resume-sync here (eval), but the DYING line stays counted
            ses.error_count = saved + 1
        replay_local(ses, "resume-replay-local", res)
    return 0


def up_phase2(ses, cmd, res, *_args):
    return attach_phase2(ses, "detach" if cmd == "down" else "attach", res)


# ------------------------------------------------------------------ misc settings

def emergency_limit(ses, cmd, res, value=None, *_args):
    path = _todo(ses, res, "emergency-limit")
    if cmd.startswith("get-"):
        ses.out("%s\n" % ses.get_link(path))
        return 0
    value = "" if value is None else value
    if not value.isdigit():
        ses.die("percent argument '%s' isn't numeric\n" % value)
    if not 0 <= int(value) <= 100:
        ses.die("percent argument '%s' isn't between 0 and 100%%\n" % value)
    ses.set_link(value, path)
    return 0


def _escape_unit(res):
    """``systemd-escape`` of a resource name inside a unit name (dashes become \\x2d)."""
    return res.replace("-", "\\x2d")


def set_systemd_unit_phase1(ses, _cmd, res, start=None, stop=None, *_args):
    if start is None:
        ses.die("Start unit name is undefined\n")
    if not stop:
        ses.out("Unspecified stop unit: ALSO use start unit/template '%s' for stopping.\n" % start)
        stop = start
    if res in start:
        start = start.replace(res, _escape_unit(res), 1)
    if res in stop:
        stop = stop.replace(res, _escape_unit(res), 1)
    resdir = ses.resdir(res)
    want = os.path.join(resdir, "systemd-want")
    if start:
        ses.set_link(start, os.path.join(resdir, "systemd-start-unit"))
        target = lookup.designated_primary(ses, res, 1)
        if target:
            ses.set_link(target, want)
    else:
        ses.create_delete(os.path.join(resdir, "systemd-start-unit"))
        ses.create_delete(want)
    if stop:
        ses.set_link(stop, os.path.join(resdir, "systemd-stop-unit"))
    else:
        ses.create_delete(os.path.join(resdir, "systemd-stop-unit"))
        ses.create_delete(want)
    return 0


def finish_phase(ses, _cmd, _res, *_args):
    ses.finish_links()
    return 0


def get_systemd_unit(ses, _cmd, res, *_args):
    resdir = ses.resdir(res)
    start = ses.get_link(os.path.join(resdir, "systemd-start-unit"), 2)
    stop = ses.get_link(os.path.join(resdir, "systemd-stop-unit"), 2)
    if not start:
        return 0
    if not stop:
        ses.warn("Strange: stop unit %s does not exist\n" % ses.show(os.path.join(resdir, "systemd-stop-unit")))
        ses.out("%s\n" % start)
        return 0
    ses.out("%s %s\n" % (start, stop))
    return 0


def set_systemd_want_phase1(ses, _cmd, res, new=None, *_args):
    new = new or ""
    if new != "(none)" and not ses.get_link(ses.mpath("ips", "ip-" + new), 1):
        ses.warn("The hostname '%s' does not exist.\n" % new)
        if not ses.opts.force:
            ses.die("Refusing to set systemd-want.\n")
    if not ses.glob(os.path.join(ses.resdir(res), "systemd-*-unit")):
        ses.warn("Resource '%s' has no configured systemd units.\n" % res)
        ses.warn("First configure the resource with marsadm set-systemd-unit.\n")
        if not ses.opts.force:
            ses.die("Refusing to set systemd-want.\n")
    want = os.path.join(ses.resdir(res), "systemd-want")
    old = ses.get_link(want, 1)
    if old and old == new:
        return 0
    ses.set_link(new, want)
    ses.finish_links()
    return 0


def systemd_present(ses, res):
    """The wanted host when systemd units are configured for ``res`` (else '')."""
    if not ses.glob(os.path.join(ses.resdir(res), "systemd-*-unit")):
        return ""
    return ses.get_link(os.path.join(ses.resdir(res), "systemd-want"), 1)


def report_systemd_status(ses, res, status, oper, peer):
    path = os.path.join(ses.resdir(res), "userspace", "systemd-status-%s-%s" % (oper, peer))
    old = ses.get_link(path, 1)
    if old == "" or old != str(status):
        ses.set_link(str(status), path)


def set_systemd_want_phase2(ses, _cmd, res, *_args):
    """Wait until the device is opened at the wanted host (or closed everywhere for ``(none)``).

    Opening and closing is the job of the systemd units; the result comes from ``open-count``."""
    ses.trigger(3)
    want = os.path.join(ses.resdir(res), "systemd-want")
    new = ses.get_link(want, 1)
    if ses.opts.force:
        ses.out("De/activation of '%s' -> '%s' is not checked due to --force\n" % (ses.show(want), new))
        return 0
    if new == "(none)":
        fail = 0
        for peer in lookup.Membership(ses).any_peers(res):
            count = ses.get_link(os.path.join(ses.resdir(res), "actual-" + peer, "open-count"), 1)
            if lookup.truthy(count):
                name = ses.get_link(os.path.join(ses.resdir(res), "device-" + peer), 1)
                ses.out("Device '%s' is in use at '%s'\n" % (name, peer))
                fail = 1
        if fail:
            ses.out("Re-trigger %s\n" % ses.show(want))
        else:
            ses.out("All peer devices are closed.\n")
        return fail
    name = ses.get_link(os.path.join(ses.resdir(res), "device-" + new), 1)
    if not lookup.truthy(lookup.device_exists(ses, res, new)):
        ses.warn("device '%s' is not present at '%s'\n" % (name, new))
        return 0
    if not lookup.truthy(ses.get_link(os.path.join(ses.resdir(res), "actual-" + new, "open-count"), 1)):
        ses.out("Device '%s' not yet opened at '%s'\n" % (name, new))
        return 1
    ses.out("Device '%s' is open at '%s'.\n" % (name, new))
    return 0


def get_systemd_want(ses, _cmd, res, *_args):
    value = ""
    if ses.glob(os.path.join(ses.resdir(res), "systemd-*-unit")):
        value = ses.get_link(os.path.join(ses.resdir(res), "systemd-want"), 1)
    ses.out("%s\n" % value)
    return 0


def check_userspace(ses, dst):
    if "/userspace/" not in dst:
        if not ses.opts.force:
            ses.die("your path '%s' must be inside %s/userspace/ or %s/resource-*/userspace/\n"
                    % (dst, ses.show(ses.mars), ses.show(ses.mars)))


def _real_path(ses, path):
    """User-given /mars paths live under the emulation root."""
    return os.path.join(ses.paths.root, path.lstrip("/")) if path.startswith("/") else path


def set_link_cmd(ses, cmd, _res, *args):
    args = list(args)
    while args:
        src = args.pop(0)
        if cmd.startswith("get-"):
            ses.out("%s\n" % ses.get_link(_real_path(ses, src)))
            continue
        if not args:
            ses.die("you did not supply a symlink destination for source '%s'\n" % src)
        dst = args.pop(0)
        if not dst.startswith("/"):
            ses.die("symlink target '%s' is not an absolute path\n" % dst)
        check_userspace(ses, dst)
        directory = os.path.dirname(dst)
        if not os.path.isdir(_real_path(ses, directory)):
            ses.die("directory '%s' does not exist\n" % directory)
        ses.set_link(src, _real_path(ses, dst))
    return 0


def delete_file_cmd(ses, _cmd, _res, *args):
    for path in args:
        if not path.startswith("/"):
            ses.die("cannot delete: '%s' is no absolute path\n" % path)
        check_userspace(ses, path)
        ses.create_delete(_real_path(ses, path))
    return 0


def sync_limit_value(ses, cmd, value, *_args):
    if "-global-" not in cmd:
        ses.warn("The old syntax '%s' is deprecated - please use the new syntax {get,set}-global-*\n" % cmd)
    todo_dir = ses.mpath("defaults-" + ses.host)
    if not os.path.isdir(todo_dir):
        ses.die("directory '%s' does not exist\n" % ses.show(todo_dir))
    dst = os.path.join(todo_dir, "sync-limit")
    if cmd.startswith("get-"):
        ses.out("%s\n" % ses.get_link(dst))
        return 0
    ses.set_link(value, dst)
    return 0

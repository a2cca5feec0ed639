"""Option parsing, the command table and marsadm's phase runner (LOOP/FORK/SLEEP semantics,
``all`` expansion, per-resource pre-checks, FAILURE/DYING accounting and the exit code)."""

import os
import re

from marsemu import common
from marsemu.marsadm import cluster, handover, lookup, resource, switches, views, waits
from marsemu.marsadm.runtime import MARSADM_VERSION, Dying, Session

GLOBAL = "GLOBAL"


def step(func, headline=None, loop=False):
    return (func, headline, loop)


RESIZE_STEPS = [step(resource.resize_phase0, "check preconditions"), step(resource.resize_phase1, "set new size"),
                step(resource.resize_phase2, "wait for change")]

COMMANDS = {
    "create-cluster": [step(cluster.create_cluster)],
    "join-cluster": [step(cluster.join_cluster)],
    "leave-cluster": [step(cluster.leave_cluster)],
    "merge-cluster": [step(cluster.merge_cluster)],
    "merge-cluster-list": [step(cluster.merge_cluster)],
    "merge-cluster-check": [step(cluster.merge_cluster)],
    "create-uuid": [step(lambda ses, *_a: cluster.create_uuid(ses))],
    "create-resource": [step(resource.create_res)],
    "activate-guest": [step(resource.activate_guest)],
    "deactivate-guest": [step(resource.activate_guest)],
    "join-resource": [step(resource.create_res)],
    "leave-resource": [step(resource.leave_res_phase0, "check preconditions"),
                       step(resource.leave_res_phase1, "switch state"),
                       step(resource.leave_res_phase2, "purge logfiles"),
                       step(resource.leave_res_phase3, "wait for deletions"),
                       step(resource.systemd_trigger_phase, "trigger systemd")],
    "delete-resource": [step(resource.delete_res_phase1, "set links"),
                        step(resource.systemd_trigger_phase, "trigger systemd")],
    "set-systemd-unit": [step(switches.set_systemd_unit_phase1, "set links"),
                         step(switches.finish_phase, "trigger systemd")],
    "get-systemd-unit": [step(switches.get_systemd_unit)],
    "set-systemd-want": [step(switches.set_systemd_want_phase1, "set links"),
                         step(switches.set_systemd_want_phase2, "wait for effect", True)],
    "get-systemd-want": [step(switches.get_systemd_want)],
    "log-rotate": [step(resource.logrotate_res)],
    "log-delete": [step(resource.logdelete_res)],
    "log-delete-one": [step(resource.logdelete_res)],
    "log-delete-all": [step(resource.logdelete_res)],
    "log-delete-all-replayed": [step(resource.logdelete_res)],
    "cron": [(GLOBAL, resource.link_purge_global, "purge global links"),
             step(resource.cron_phase1, "purge links and rotate logfiles"),
             ("SLEEP",),
             step(resource.cron_phase2, "delete old logfiles"),
             step(resource.nothing_phase, "autoclean gone peers (when enabled via --autoclean)"),
             (GLOBAL, resource.nothing_phase, "autoclean gone resources (when enabled via --autoclean)")],
    "log-purge-all": [step(resource.log_purge_res)],
    "err-purge-all": [step(resource.err_purge_res)],
    "link-purge-all": [(GLOBAL, resource.link_purge_global, "purge global links"),
                       step(resource.nothing_phase, "purge per-resource links")],
    "fake-sync": [step(resource.fake_sync_phase1, "switch sync off"),
                  step(resource.fake_sync_phase2, "wait for sync off"),
                  step(resource.fake_sync_phase3, "fake sync")],
    "set-link": [step(switches.set_link_cmd)],
    "get-link": [step(switches.set_link_cmd)],
    "delete-file": [step(switches.delete_file_cmd)],
    "set-global-sync-limit-value": [step(switches.sync_limit_value)],
    "get-global-sync-limit-value": [step(switches.sync_limit_value)],
    "set-sync-limit-value": [step(switches.sync_limit_value)],
    "get-sync-limit-value": [step(switches.sync_limit_value)],
    "set-emergency-limit": [step(switches.emergency_limit)],
    "get-emergency-limit": [step(switches.emergency_limit)],
    "emergency-limit": [step(switches.emergency_limit)],
    "wait-umount": [step(lambda ses, cmd, res, *a: _wait_umount(ses, res))],
    "wait-cluster": [step(cluster.wait_cluster_cmd)],
    "wait-connect": [step(cluster.wait_cluster_cmd)],
    "wait-resource": [step(lambda ses, cmd, res, *a: waits.wait_cond(ses, cmd, res, a[0] if a else ""))],
    "update-cluster": [step(cluster.update_cluster_cmd)],
    "attach": [step(switches.attach_phase0, "check preconditions"), step(switches.attach_phase1, "switch state"),
               step(switches.attach_phase2, "wait for effect")],
    "detach": [step(switches.attach_phase0, "check preconditions"),
               step(switches.attach_phase0b, "wait for systemd device release"),
               step(switches.attach_phase1, "switch state"), step(switches.attach_phase2, "wait for effect")],
    "up": [step(switches.up_phase0, "check preconditions"), step(switches.up_phase1, "switch state"),
           step(switches.up_phase2, "wait for effect")],
    "down": [step(switches.up_phase0, "check preconditions"),
             step(switches.attach_phase0b, "wait for systemd device release"),
             step(switches.up_phase1, "switch state"), step(switches.up_phase2, "wait for effect")],
    "primary": [(GLOBAL, lambda ses, cmd, res, *a: None if ses.opts.force else waits.wait_cluster(ses, cmd, res, "*", 0), None),
                step(handover.primary_phase0, "check preconditions"),
                step(handover.primary_phase0a, "conditionally wait for fetch off"),
                step(handover.primary_phase0b, "wait for systemd"),
                step(handover.primary_phase1, "leave primary state", True),
                step(handover.primary_phase1b, "trigger remote", True),
                step(handover.primary_phase2, "wait for cluster when necessary", True),
                step(handover.primary_phase2b, "avoid split brain", True),
                step(handover.primary_phase3, "switch to primary"),
                step(handover.primary_phase3b, "trigger remote"),
                step(handover.primary_phase4, "wait for device"),
                step(handover.primary_phase5, "trigger systemd", True)],
    "secondary": [step(handover.primary_phase0, "check preconditions"),
                  step(handover.primary_phase1, "leave primary state"),
                  step(handover.primary_phase1b, "trigger remote", True),
                  step(handover.primary_phase4, "wait for effect"),
                  step(handover.primary_phase5, "trigger systemd", True)],
    "invalidate": [step(resource.invalidate_phase0, "check preconditions"),
                   step(resource.invalidate_phase1, "switch off everything"),
                   step(resource.invalidate_phase2, "wait for everything switched off"),
                   step(resource.invalidate_phase3, "start deletion of old version links"),
                   step(resource.wait_effect_phase, "wait for effect"),
                   step(resource.invalidate_phase5, "start purging old logfiles"),
                   step(resource.wait_effect_phase, "wait for effect"),
                   step(resource.invalidate_phase7, "set new replaylink"),
                   step(resource.wait_effect_phase, "wait for effect"),
                   step(resource.invalidate_phase9, "switch on everything again")],
    "resize": RESIZE_STEPS,
    "role": [step(lambda ses, cmd, res, *a: _role(ses, res, *a))],
    "state": [step(lambda ses, cmd, res, *a: _role(ses, res, *a))],
    "lowlevel-ls-host-ips": [step(cluster.lowlevel_ls_host_ips)],
    "lowlevel-set-host-ip": [step(cluster.lowlevel_set_host_ip)],
    "lowlevel-delete-host": [step(cluster.lowlevel_delete_host)],
}

for _name, _func in (("resume-fetch", switches.fetch_local), ("pause-fetch", switches.fetch_local),
                     ("connect", switches.fetch_local), ("disconnect", switches.fetch_local),
                     ("resume-sync", switches.sync_local), ("pause-sync", switches.sync_local),
                     ("resume-replay", switches.replay_local), ("pause-replay", switches.replay_local)):
    _global = {switches.fetch_local: switches.fetch_global, switches.sync_local: switches.sync_global,
               switches.replay_local: switches.replay_global}[_func]
    COMMANDS[_name] = [step(_func)]
    COMMANDS[_name + "-local"] = [step(_func)]
    COMMANDS[_name + "-global"] = [step(_global)]

IGNORED = ("syncer", "check-resize", "get-gi", "show-gi", "outdate", "adjust")
SENSELESS = ("create-md", "dump-md", "dump", "new-current-uuid")
FORBIDDEN = ("invalidate-remote", "verify")
NYI = ("cstate", "dstate", "status")


def _ignore(ses, cmd, res, *_args):
    ses.out("ignoring command '%s' on resource '%s'\n" % (cmd, res))


def _senseless(ses, cmd, res, *_args):
    ses.out("command '%s' makes no sense with MARS (ignoring on resource '%s')\n" % (cmd, res))


def _forbidden(ses, cmd, res, *_args):
    ses.die("command '%s' on resource '%s' cannot be used with MARS (might affect too many hosts, lead to undesired"
            " consequences)\n" % (cmd, res))


def _nyi(ses, cmd, res, *_args):
    ses.die("command '%s'  on resource '%s' is not yet implemented\n" % (cmd, res))


for _names, _func in ((IGNORED, _ignore), (SENSELESS, _senseless), (FORBIDDEN, _forbidden), (NYI, _nyi)):
    for _name in _names:
        COMMANDS[_name] = [step(_func)]


def _wait_umount(ses, res):
    path = os.path.join(ses.resdir(res), "actual-" + ses.host, "open-count")
    while True:
        count = ses.get_link(path)
        if not lookup.truthy(count):
            break
        ses.out("device for resource '%s' is %s times in use on %s\n" % (res, count, ses.host))
        ses.sleep_timeout(1)
    ses.out("OK, device for resource '%s' is not in use.\n" % res)


def _role(ses, res, peer=None, *_args):
    peer = peer or ses.host
    is_primary = ses.get_link(os.path.join(ses.resdir(res), "actual-" + peer, "is-primary"))
    designated = lookup.designated_primary(ses, res)
    msg = "I am actually " + ("primary" if lookup.truthy(is_primary) else "secondary")
    if designated != peer:
        msg += " and %s should be primary" % designated
    ses.out(msg + "\n")


HELP_TEXT = """
marsadm (emulated for georep.mars lab hosts, compatible with marsadm %s)

marsadm [<global_options>] <command> [<resource_names> | all | <args> ]
marsadm [<global_options>] view[-<macroname>] [<resource_names> | all ]

<global_option> = --force | --ignore-sync | --dry-run | --verbose | --timeout=<seconds>
                  --window=<seconds> | --host=<hostname> | --ip=<ip> | --ip-<peer>=<ip>
                  --threshold=<size> | --parallel[=<n>]

The MARS user manual (mars-user-manual.pdf) is the authoritative reference.
""" % MARSADM_VERSION


class Exit(Exception):
    """Leave main() with a given exit code (help output, top-level deaths)."""

    def __init__(self, code):
        super().__init__(code)
        self.code = code


def print_version(ses):
    """``$0 Version: 2.9 $Id$`` as printed by the installed marsadm."""
    ses.out("/usr/sbin/marsadm Version: %s $Id$ \n" % MARSADM_VERSION)
    raise Exit(0)


def helplist(ses, msg=None):
    if msg:
        ses.out("ERROR: " + msg)
    ses.out(HELP_TEXT)
    raise Exit(0)


OPTION_PATTERNS = [
    (r"^(--force|-f)$", lambda o, m: setattr(o, "force", o.force + 1)),
    (r"^--ignore-sync$", lambda o, m: setattr(o, "ignore_sync", o.ignore_sync + 1)),
    (r"--ignore-deleted-peers\s*=\s*(-?[0-9]+)", lambda o, m: setattr(o, "ignore_deleted_peers", int(m.group(1)))),
    (r"^(--dry-run|-d)$", lambda o, m: setattr(o, "dry_run", o.dry_run + 1)),
    (r"--max-deletions\s*=\s*(-?[0-9]+)", lambda o, m: setattr(o, "max_deletions", int(m.group(1)))),
    (r"--thresh-logfiles\s*=\s*([0-9]+)", lambda o, m: setattr(o, "thresh_logfiles", int(m.group(1)))),
    (r"--thresh-logsize\s*=\s*([0-9]+)", lambda o, m: setattr(o, "thresh_logsize", int(m.group(1)))),
    (r"--parallel(\s*=\s*(-?[0-9]+)?)?", lambda o, m: setattr(o, "parallel", int(m.group(2) or 0))),
    (r"--verbose\s*=\s*(-?[0-9]+)", lambda o, m: setattr(o, "verbose", int(m.group(1)))),
    (r"^(--verbose|-v)$", lambda o, m: setattr(o, "verbose", o.verbose + 1)),
    (r"--autoclean\s*=\s*([0-9]+)", lambda o, m: setattr(o, "autoclean_days", int(m.group(1)))),
    (r"--timeout\s*=\s*([0-9]+)", lambda o, m: setattr(o, "timeout", int(m.group(1)))),
    (r"--window\s*=\s*([0-9]+)", lambda o, m: setattr(o, "window", int(m.group(1)))),
    (r"--stuck-seconds\s*=\s*([0-9]+)", lambda o, m: setattr(o, "stuck_seconds", int(m.group(1)))),
    (r"--keep-backup(?:-hour)?s\s*=\s*([0-9]+)", lambda o, m: setattr(o, "keep_backup_hours", int(m.group(1)))),
    (r"--systemd-enable\s*=\s*([0-9]+)?", lambda o, m: None),
    (r"--no-ssh", lambda o, m: None),
    (r"--macro\s*=\s*(.*)", lambda o, m: setattr(o, "macro", m.group(1).replace("\\n", "\n"))),
]


def parse_args(ses, argv):
    args = []
    check_hosts = []
    for arg in argv:
        handled = False
        for pattern, action in OPTION_PATTERNS:
            match = re.search(pattern, arg)
            if match:
                action(ses.opts, match)
                handled = True
                break
        if handled:
            continue
        match = re.search(r"--threshold\s*=\s*([0-9]+[kmgtpKMGTP]?)", arg)
        if match:
            ses.opts.threshold = resource.get_size(ses, match.group(1))
            continue
        match = re.search(r"--host\s*=\s*([-_A-Za-z0-9]+)", arg)
        if match:
            check_hosts.append(match.group(1))
            if match.group(1) != ses.host:
                ses.out("ATTENTION: acting as if I were host '%s'\n" % match.group(1))
                ses.warn("some commands require local knowledge not available here.\n")
                ses.warn("thus something may fail or go wrong - use this at your risk!\n")
                ses.host = match.group(1)
            continue
        match = re.search(r"--ip(-(.*?))?\s*=\s*([0-9.:\[\]]+)", arg)
        if match:
            peer = match.group(2) or ses.host
            ses.err("Using IP '%s' from command line for '%s'.\n" % (match.group(3), peer))
            ses.opts.known_ips[peer] = match.group(3)
            continue
        if re.match(r"^--help$|^-h$", arg):
            helplist(ses)
        if arg == "--version":
            print_version(ses)
        match = re.match(r"^-(.*)", arg)
        if match:
            ses.die("unrecognized argument '-%s' (bad syntax)\n" % match.group(1))
        if arg.startswith("force-"):
            ses.opts.force += 1
            arg = arg[len("force-"):]
        args.append(arg)
    for host in check_hosts:
        lookup.check_id(ses, host, True, 1)
    return args


def resource_argument(ses, cmd, args):
    """Which commands take a resource (or host) argument, as in marsadm's dispatcher."""
    res = ""
    if re.search("show|cron", cmd):
        res = args.pop(0) if args else "all"
    elif re.match(r"^(view|pretty)", cmd) or "trigger" in cmd:
        res = args.pop(0) if args else ""
    elif re.match(r"^set-.*-value$", cmd):
        res = args.pop(0) if args else ""
        if res == "":
            helplist(ses, "numeric argument for '%s' is missing\n" % cmd)
        if not re.match(r"^[0-9.]+$", res):
            ses.die("argument '%s' isn't numeric\n" % res)
    elif re.match(r"^(set|get)-global-", cmd):
        res = ""
    elif re.match(r"^set-", cmd):
        res = args.pop(0) if args else ""
        if not res:
            helplist(ses, "resource argument is missing\n")
        lookup.check_id_list(ses, res, False, 1, True)
    elif re.match(r"^(join|merge)-cluster$", cmd):
        res = args.pop(0) if args else ""
        if not res:
            helplist(ses, "peer argument is missing\n")
    elif not re.search(r"^(create|split|leave|wait|update)-cluster|merge-cluster-list|create-uuid|cat|[a-z]+-file", cmd):
        res = args.pop(0) if args else ""
        if not res:
            helplist(ses, "resource argument is missing\n")
        lookup.check_id_list(ses, res, False, 1, True)
    return res


class Runner:
    """Runs one command's phases over its resource list like marsadm's main loop."""

    def __init__(self, ses, cmd, res, args):
        self.ses = ses
        self.cmd = cmd
        self.res = res
        self.args = args
        self.checked = set()

    def do_one(self, func, res):
        ses, cmd = self.ses, self.cmd
        if re.search(r"^cat|^(set|get)-global-|-file$|-list$|-link$|-value$", cmd):
            pass
        elif cmd + res not in self.checked:
            if res and not re.search(r"^(join|create|merge|leave|wait)-cluster|(create|join)-resource|show", cmd):
                res = waits.check_res(ses, res)
            if res and not re.search(r"^(join|create|delete)-(cluster|resource)|^(merge|leave|wait)-cluster|"
                                     r"activate-guest|-purge-|^show|^view", cmd):
                lookup.check_res_member(ses, cmd, res)
            if res and os.path.isdir(ses.resdir(res)):
                lookup.detect_splitbrain(ses, res, True)
            self.checked.add(cmd + res)
        return func(ses, cmd, res, *self.args)

    def expand(self):
        ses = self.ses
        if self.res == "all" and not re.search(r"show|cat|cluster|set-link|delete-file", self.cmd):
            return lookup.Membership(ses).any_resources(ses.host)
        if "," in self.res:
            return sorted(self.res.split(","), key=lambda r: re.sub(r"[0-9]+", lambda m: "%012d" % int(m.group(0)), r))
        return []

    def do_all(self, func, do_abort):
        ses = self.ses
        res_list = self.expand()
        if res_list:
            if re.search("create|join", self.cmd):
                ses.die("Cannot combine command '%s' with 'all' existing resources - you must explicitly name a single"
                        " new resource\n" % self.cmd)
            any_success = any_fail = 0
            member = lookup.Membership(ses)
            for res in res_list:
                if res in ses.skip_res:
                    continue
                if ses.opts.verbose or not self.cmd.startswith("log-"):
                    kind = "resource" if member.is_member(res, ses.host) else "guest"
                    ses.out("--------- %s %s\n" % (kind, views.View(ses, self.cmd, res).default_resource()))
                try:
                    status = self.do_one(func, res)
                except Dying:
                    if res not in ses.skip_res:
                        ses.skip_res.add(res)
                        self.fail_action(res)
                    any_fail += 1
                    continue
                if not do_abort and status:
                    any_fail += 1
                any_success = 1
            if not do_abort:
                return any_fail
            if not any_success:
                ses.die("all resources have errors\n")
            return 0
        if self.res == "all":
            ses.warn("resource qualifier 'all' does not match any resource or guest names\n")
            return 0
        if not do_abort:
            return self.do_one(func, self.res)
        try:
            return self.do_one(func, self.res)
        except Dying:
            if self.res not in ses.skip_res:
                self.fail_action(self.res)
            return 1

    def fail_action(self, res):
        self.ses.out("FAILURE cmd='%s' res='%s'\n" % (self.cmd, res))
        self.ses.error_count += 1

    def run(self, steps):
        ses = self.ses
        phase = 0
        for entry in steps:
            if entry[0] == "SLEEP":
                ses.sleep(ses.cron_sleep)
                continue
            if entry[0] == GLOBAL:
                _marker, func, msg = entry
                if msg:
                    phase += 1
                    ses.out("-------- GLOBAL PHASE %d -------- %s:\n" % (phase, msg))
                func(ses, self.cmd, self.res, *self.args)
                continue
            func, headline, loop = entry
            phase += 1
            if headline is not None:
                ses.out("-------- PHASE %d -------- %s:\n" % (phase, headline))
            start = ses.mars_time()
            while True:
                status = self.do_all(func, not loop)
                if not loop or not status:
                    break
                ses.sleep(1)
                if (ses.mars_time() - start) / 1e9 > ses.opts.timeout:
                    ses.warn("Condition '%s' for resources '%s' not reached within %d s\n"
                             % (headline or "", self.res, ses.opts.timeout))
                    break
            ses.finish_links()
            if status:
                break


def _check_mars_dir(ses):
    if not os.path.isdir(ses.mars):
        ses.die("The %s directory does not exist.\n" % ses.show(ses.mars))
    info = os.stat(ses.mars)
    if info.st_uid and os.getuid() == 0:
        ses.warn("Directory %s has wrong owner uid %d.\n" % (ses.show(ses.mars), info.st_uid))
        os.chown(ses.mars, 0, 0)
        ses.warn("Fixed by setting to 0.\n")
    perms = info.st_mode & 0o7777
    if perms != 0o700:
        ses.warn("Directory %s has wrong permissions 0%o.\n" % (ses.show(ses.mars), perms))
        try:
            os.chmod(ses.mars, 0o700)
        except OSError:
            ses.die("Cannot chmod %s.\n" % ses.show(ses.mars))
        ses.warn("Fixed to mode 0700 for security reasons.\n")


def run_command(ses, argv):
    args = parse_args(ses, argv)
    if not args:
        helplist(ses, "command argument is missing\n")
    cmd = args.pop(0)
    if cmd in ("help", "h"):
        helplist(ses)
    if cmd in ("version", "v"):
        print_version(ses)
    if os.getuid() != 0 and not re.match(r"^(cat|view.*|pretty.*)$", cmd):
        ses.die("only root may use this tool\n")
    _check_mars_dir(ses)
    if cmd.startswith("lowlevel-"):
        steps = COMMANDS.get(cmd)
        if not steps:
            ses.die("Syntax error: lowlevel command '%s' not found\n" % cmd)
        ses.warn("EXPERTS ONLY -- risky lowlevel command '%s'\n" % cmd)
        steps[0][0](ses, cmd, *args)
        ses.finish_links()
        return 0
    if not re.search(r"(create|join)-cluster|create-uuid|systemd|cat|view|pretty", cmd):
        if not ses.get_link(ses.mpath("uuid"), 1):
            ses.die("No valid cluster UUID %s/uuid found. You need {create,join}-cluster first (or create-uuid).\n"
                    % ses.show(ses.mars))
    res = resource_argument(ses, cmd, args)
    if ses.opts.force:
        ses.warn("Using FORCE option -- hopefully you know what you are doing!\n")
    if re.match(r"^(view|pretty)", cmd):
        if not ses.mars_mounted():
            ses.warn("directory %s is NOT a recognized mountpoint - please mount it.\n" % ses.show(ses.mars))
        elif not os.path.islink(ses.mpath("uuid")):
            ses.warn("no cluster uuid found -- be sure to FULLY UNDERSTAND what you need to do, by reading"
                     " mars-user-manual.pdf\n")
        if not ses.module_loaded():
            ses.warn("mars kernel module is not loaded\n")
        if res == "all" and re.sub(r"^view-?", "", cmd) in ("", "default"):
            header = views.default_header(ses)
            if header:
                ses.out(header)
        Runner(ses, cmd, res, args).do_all(views.view_cmd, True)
        ses.finish_links()
        return ses.error_count
    steps = COMMANDS.get(cmd)
    if not steps:
        ses.die("unknown command '%s'\n" % cmd)
    Runner(ses, cmd, res, args).run(steps)
    ses.finish_links()
    return ses.error_count


def main(argv, stdout=None, stderr=None, sleep=None, root=None, hostname=None):
    """Run one marsadm invocation and return its exit code (the error count; see Dying for early deaths).

    ``root``/``hostname`` default to MARS_EMU_ROOT/MARS_EMU_HOSTNAME (tests pass them directly)."""
    ses = Session(stdout=stdout, stderr=stderr, sleep=sleep, hostname=hostname,
                  paths=common.Paths(root) if root is not None else None)
    try:
        return run_command(ses, list(argv))
    except Exit as leave:
        return leave.code
    except Dying as death:
        ses.err("\n")  # Perl's uncaught die "\n" adds an empty line
        return death.exit_code

"""Conformance of the emulated marsadm without a kernel: the links each command writes (names,
values, ``.deleted``, Lamport mtimes), and the exit codes and texts of documented failures.

Expected texts and trees come from mars-reference.md sections 2.5/3/7.2 and the recorded real
marsadm (traces/real-mars-A); the exit codes were checked against the real marsadm 2.9.
"""

import os
import re
import subprocess
import sys

import pytest

from marsadm_fakes import Host, LoopDevices, diff

NSEC = 1000000000
ZERO = "0" * 32


@pytest.fixture(name="host_a")
def fixture_host_a(tmp_path):
    return Host(str(tmp_path), "hostA")


@pytest.fixture(name="loops")
def fixture_loops(tmp_path):
    devices = LoopDevices(str(tmp_path))
    yield devices
    devices.cleanup()


def loop_or_skip(loops, size_mib=64):
    device = loops.create(size_mib)
    if not device:
        pytest.skip("no loop devices available")
    return device


def cluster(host, ip="10.9.0.1"):
    rc, out, _err = host.run("--ip=" + ip, "create-cluster")
    assert rc == 0, out
    return out


def with_resource(host, loops, res="r1"):
    cluster(host)
    disk = loop_or_skip(loops)
    rc, out, err = host.run("create-resource", res, disk)
    assert rc == 0, out + err
    return disk


def set_lamport_clock(host, stamp_ns):
    """A frozen lamport_clock (a "module" that does not run) makes marsadm's stamps predictable."""
    host.modprobe()
    with open(os.path.join(host.paths.procsys, "lamport_clock"), "w", encoding="ascii") as handle:
        handle.write("CURRENT_TIME=1.0\nlamport_now=%d.%09d\n" % divmod(stamp_ns, NSEC))


# ---------------------------------------------------------------------------- create-cluster

def test_create_cluster_tree(host_a):
    before = host_a.snapshot()
    out = cluster(host_a)
    uuid = host_a.link("uuid")
    assert re.match(r"^hostA_[0-9]+\.000000000$", uuid)
    assert out == "New cluster UUID is '%s'\n" % uuid
    changed = diff(before, host_a.snapshot())
    assert changed == {
        "uuid": ("l", uuid),
        "ips": ("d", None), "ips/ip-hostA": ("l", "10.9.0.1"),
        "userspace": ("d", None), "defaults": ("d", None), "todo-global": ("d", None),
        "defaults-hostA": ("d", None),
        "defaults-hostA/sync-limit": ("l", "0"), "defaults-hostA/sync-pref-list": ("l", "(none)"),
        "actual-hostA": ("d", None), "actual-hostA/marsadm-version": ("l", "2.9"),
        # as the pinned marsadm writes it (trace A01: todo-global/deleted-vm1 -> 1, stamped with the uuid)
        "todo-global/deleted-hostA": ("l", "1"),
    }
    # without a module, marsadm's clock is time() in whole seconds; all links of a batch share it
    stamps = {host_a.stamp(p) for p in ("uuid", "ips/ip-hostA", "defaults-hostA/sync-limit", "todo-global/deleted-hostA")}
    assert len(stamps) <= 2 and all(s % NSEC == 0 for s in stamps)
    assert uuid.split("_")[1] == "%d.000000000" % (host_a.stamp("uuid") // NSEC)


def test_link_mtimes_are_lamport_stamps(host_a):
    cluster(host_a)
    stamp = 1795625764123456789
    set_lamport_clock(host_a, stamp)
    rc, _out, _err = host_a.run("lowlevel-set-host-ip", "hostB", "10.9.0.2")
    assert rc == 0
    assert host_a.link("ips/ip-hostB") == "10.9.0.2"
    assert host_a.stamp("ips/ip-hostB") == stamp
    # written via .tmp.<pid>.<name> + rename: nothing is left behind
    assert not [n for n in os.listdir(host_a.mars("ips")) if n.startswith(".tmp.")]


def test_create_cluster_refused_with_module_loaded(host_a):
    host_a.modprobe()
    before = host_a.snapshot()
    rc, out, err = host_a.run("--ip=10.9.0.1", "create-cluster")
    assert rc == 2
    assert "DYING: mars module is loaded, please unload first\n" in err
    assert "FAILURE cmd='create-cluster' res=''\n" in out
    assert host_a.snapshot() == before


def test_create_cluster_twice(host_a):
    cluster(host_a)
    before = host_a.snapshot()
    rc, out, err = host_a.run("--ip=10.9.0.1", "create-cluster")
    assert (rc, out) == (2, "FAILURE cmd='create-cluster' res=''\n")
    assert err.endswith("DYING: cluster is already created\n")
    assert host_a.snapshot() == before


def test_mars_mode_is_forced_to_0700(host_a):
    os.chmod(host_a.paths.mars, 0o755)
    rc, _out, err = host_a.run("view-uuid")
    assert rc == 0
    assert "WARNING: Directory /mars has wrong permissions 0755.\n" in err
    assert os.stat(host_a.paths.mars).st_mode & 0o7777 == 0o700


# ---------------------------------------------------------------------------- bad input

BAD_INPUT = [
    # (id, argv, rc, stderr must contain, stdout must equal)
    ("timeout-negative", ["--timeout=-1", "view", "r1"], 2,
     "DYING: unrecognized argument '--timeout=-1' (bad syntax)\n", ""),
    ("unknown-option", ["--bogus", "view", "r1"], 2, "DYING: unrecognized argument '--bogus' (bad syntax)\n", ""),
    # rc 2 as with the marsadm the lab pins (see runtime.Dying)
    ("unknown-command", ["frobnicate", "r1"], 2, "DYING: unknown command 'frobnicate'\n", ""),
    ("bad-resource-name", ["pause-sync", "Bad.Name"], 2,
     "DYING: comma-separated list 'Bad.Name' has disallowed characters\n", ""),
    ("create-resource-bad-name", ["create-resource", "Bad.Name", "/dev/null"], 2,
     "DYING: comma-separated list 'Bad.Name' has disallowed characters\n", ""),
    ("unknown-resource", ["pause-sync", "nores"], 2, "DYING: resource 'nores' does not exist (0 replacements found)\n",
     "Ping * trigger=3\nWait for answers from 0  peer(s) (locally mentioned)\n0/0 peer(s) seem to be alive\n"
     "FAILURE cmd='pause-sync' res='nores'\n"),
    ("unknown-resource-view", ["view-is-member", "nores"], 2,
     "DYING: resource 'nores' does not exist (0 replacements found)\n",
     "Ping * trigger=3\nWait for answers from 0  peer(s) (locally mentioned)\n0/0 peer(s) seem to be alive\n"
     "FAILURE cmd='view-is-member' res='nores'\n"),
    ("unknown-macro", ["view-no-such-macro"], 2, "DYING: cannot find macro 'no-such-macro'\n",
     "FAILURE cmd='view-no-such-macro' res=''\n"),
    ("not-a-block-device", ["create-resource", "r9", "/etc/hostname"], 2,
     "DYING: Size argument '/etc/hostname' must be a number, optionally followed by a suffix [kKmMgGtTpP]. Lowercase"
     " = multiples of 1000, Uppercase = multiples of 1024.\n",
     "creating new resource 'r9'\nUsing regular (sparse) file '/etc/hostname' as an image file\n"
     "FAILURE cmd='create-resource' res='r9'\n"),
    ("missing-disk", ["create-resource", "r9", "/dev/no-such-disk"], 2,
     "DYING: Device argument '/dev/no-such-disk' does not exist or is no usable block device.\n",
     "creating new resource 'r9'\nFAILURE cmd='create-resource' res='r9'\n"),
    ("delete-unknown-host", ["lowlevel-delete-host", "hostZ"], 2,
     "WARNING: EXPERTS ONLY -- risky lowlevel command 'lowlevel-delete-host'\n"
     "WARNING: cannot read symlink '/mars/ips/ip-hostZ'\n"
     "WARNING: Host 'hostZ' does not exist in /mars/ips/\n"
     "DYING: When you know what you are doing, you may fix any typos and then use --force\n", ""),
    ("act-as-unknown-host", ["--host=hostZ", "view", "r1"], 2,
     "DYING: When you know what you are doing, you may fix any typos and then use --force\n",
     "ATTENTION: acting as if I were host 'hostZ'\n"),
    ("primary-without-module", ["primary", "nores"], 2, "DYING: resource 'nores' does not exist", None),
    ("resume-sync-missing-arg", ["resume-sync"], 0, "", None),
]


@pytest.mark.parametrize("argv,rc,err_text,out_text", [c[1:] for c in BAD_INPUT], ids=[c[0] for c in BAD_INPUT])
def test_bad_input_changes_nothing(host_a, argv, rc, err_text, out_text):
    cluster(host_a)
    before = host_a.snapshot()
    got_rc, out, err = host_a.run(*argv)
    assert got_rc == rc, out + err
    assert err_text in err
    if out_text is not None:
        assert out == out_text
    assert host_a.snapshot() == before


def test_missing_resource_argument_prints_help_with_rc0(host_a):
    cluster(host_a)
    rc, out, _err = host_a.run("resume-sync")
    assert rc == 0
    assert out.startswith("ERROR: resource argument is missing\n")


def test_no_uuid(host_a):
    rc, out, err = host_a.run("pause-sync", "r1")
    assert (rc, out) == (2, "")
    # an uncaught Perl die adds an empty line after the DYING text
    assert err.endswith("DYING: No valid cluster UUID /mars/uuid found. You need {create,join}-cluster first"
                        " (or create-uuid).\n\n")


# ---------------------------------------------------------------------------- create-resource

def test_create_resource_tree(host_a, loops):
    cluster(host_a)
    disk = loop_or_skip(loops)
    before = host_a.snapshot()
    rc, out, err = host_a.run("create-resource", "r1", disk)
    assert rc == 0, out + err
    assert out == ("creating new resource 'r1'\n"
                   "block device '%s': determined size = 67108864 bytes\n"
                   "Resource 'r1' contains no valid information - there is nothing to purge\n"
                   "using existing device '%s'\n"
                   "resource 'r1' will appear as local device '/dev/mars/r1'\n"
                   "successfully created resource 'r1'\n" % (disk, disk))
    links = {rel: val[1] for rel, val in diff(before, host_a.snapshot()).items() if val[0] == "l"}
    assert links == {
        "resource-r1/size": "67108864",
        "resource-r1/primary": "hostA",
        "resource-r1/maxnr": "1",
        "resource-r1/data-hostA": disk,
        "resource-r1/device-hostA": "r1",
        "resource-r1/replay-hostA": "log-000000001-hostA,0,0",
        "resource-r1/syncstatus-hostA": "67108864",
        "resource-r1/version-000000000-hostA": ZERO + ",log-000000000-hostA,0:",
        "resource-r1/version-000000001-hostA": ZERO + ",log-000000001-hostA,0:" + ZERO + ",log-000000000-hostA,0",
        "resource-r1/todo-hostA/attach": "1",
        "resource-r1/todo-hostA/connect": "1",
        "resource-r1/todo-hostA/sync": "1",
        "resource-r1/todo-hostA/allow-replay": "1",
        "resource-r1/actual-hostA/if-on": "0",
        "resource-r1/userspace/last-primary": "hostA",
    }
    snap = host_a.snapshot()
    assert snap["resource-r1/log-000000001-hostA"] == ("f", 0)
    for directory in ("defaults", "defaults-hostA", "local-hostA", "userspace"):
        assert snap["resource-r1/" + directory] == ("d", None)
    # attach=1 is written last, in its own batch
    assert host_a.stamp("resource-r1/todo-hostA/attach") >= host_a.stamp("resource-r1/todo-hostA/sync")


def test_create_resource_refuses_existing_members(host_a, loops):
    disk = with_resource(host_a, loops)
    before = host_a.snapshot()
    rc, out, err = host_a.run("create-resource", "r1", disk)
    assert rc == 2
    assert "WARNING: DANGER: hosts 'hostA' are already member of resource 'r1'.\n" in err
    assert "DYING: REFUSING to trash your resource!\n" in err
    assert out.endswith("FAILURE cmd='create-resource' res='r1'\n")
    assert host_a.snapshot() == before


def test_create_resource_size_argument(host_a, loops):
    cluster(host_a)
    disk = loop_or_skip(loops)
    rc, out, _err = host_a.run("create-resource", "r1", disk, "r1", "32M")
    assert rc == 0
    assert "reducing size from 67108864 to 33554432\n" in out
    assert host_a.link("resource-r1/size") == "33554432"


# ---------------------------------------------------------------------------- views

def test_views_without_kernel(host_a, loops):
    with_resource(host_a, loops)
    expect = {
        "view-is-member": "1\n", "view-get-primary": "hostA\n", "view-todo-primary": "1\n",
        "view-is-primary": "", "view-is-attach": "", "view-sync-rest": "0\n", "view-fetch-rest": "0\n",
        "view-replay-rest": "0\n", "view-is-consistent": "1\n", "view-is-split-brain": "0\n",
        "view-device-present": "0\n", "view-disk-present": "1\n", "view-todo-attach": "1\n",
        "view-replstate": "ModuleNotLoaded\n", "view-diskstate": "NoAttach\n", "view-flags": "dCaSFR\n",
        "view-role": "NotYetPrimary\n", "view-the-err-msg": "", "view-resource-peers": "hostA\n",
        "view-cluster-peers": "hostA\n", "view-is-alive": "0\n", "view-sync-pos": "67108864\n",
        "view": "  r1 [1/1] NoAttach ModuleNotLoaded dCaSFR NotYetPrimary hostA \n",
        "view-1and1": "  r1 Detached PrimaryUnreachable -SFR- Secondary -\n",
    }
    for macro, text in expect.items():
        rc, out, _err = host_a.run(macro, "r1")
        assert (macro, rc, out) == (macro, 0, text)


def test_view_all_has_header_lines(host_a, loops):
    with_resource(host_a, loops)
    rc, out, _err = host_a.run("view-is-member", "all")
    assert rc == 0
    assert out == "--------- resource r1 64.000 MiB [1/1]\n1\n"


def test_view_of_nonmember_is_empty(host_a, loops):
    with_resource(host_a, loops)
    other = Host(os.path.dirname(host_a.root), "hostB")
    os.rmdir(other.paths.mars)
    os.symlink(host_a.paths.mars, other.paths.mars)
    rc, out, _err = other.run("view", "r1")
    assert (rc, out) == (0, "")
    rc, out, _err = other.run("view-is-member", "r1")
    assert (rc, out) == (0, "0\n")


# ---------------------------------------------------------------------------- switches

SWITCHES = [
    ("pause-sync", "todo-hostA/sync", "0"), ("pause-sync-global", "todo-hostA/sync", "0"),
    ("pause-fetch", "todo-hostA/connect", "0"), ("disconnect", "todo-hostA/connect", "0"),
    ("pause-replay", "todo-hostA/allow-replay", "0"), ("pause-replay-local", "todo-hostA/allow-replay", "0"),
    ("detach", "todo-hostA/attach", "0"), ("set-emergency-limit", "todo-hostA/emergency-limit", "5"),
]


@pytest.mark.parametrize("cmd,link,value", SWITCHES, ids=[s[0] for s in SWITCHES])
def test_switch_links(host_a, loops, cmd, link, value):
    with_resource(host_a, loops)
    before = host_a.snapshot()
    argv = [cmd, "r1"] + (["5"] if cmd == "set-emergency-limit" else [])
    rc, out, err = host_a.run(*argv)
    assert rc == 0, out + err
    assert diff(before, host_a.snapshot()) == {"resource-r1/" + link: ("l", value)}


def test_resume_is_idempotent(host_a, loops):
    with_resource(host_a, loops)
    rc, out, _err = host_a.run("resume-fetch", "r1")
    assert (rc, out) == (0, "resume-fetch on resource r1 is already activated\n")
    host_a.run("pause-fetch", "r1")
    rc, out, _err = host_a.run("resume-fetch", "r1")
    assert (rc, out) == (0, "successfully started resume-fetch on resource r1\n")
    # a "0" is never "already": pausing twice rewrites the link (Perl truth)
    rc, out, _err = host_a.run("pause-fetch", "r1")
    rc, out, _err = host_a.run("pause-fetch", "r1")
    assert out == "successfully started pause-fetch on resource r1\n"


def test_detach_without_module_is_deferred(host_a, loops):
    with_resource(host_a, loops)
    rc, out, err = host_a.run("down", "r1")
    assert rc == 0
    assert "successfully started detach on resource r1\n" in out
    assert "WARNING: Kernel module not loaded: detach will become effective after modprobe\n" in err
    assert [host_a.link("resource-r1/todo-hostA/" + n) for n in ("attach", "connect", "sync", "allow-replay")] == \
        ["0", "0", "0", "0"]


def test_emergency_limit_range(host_a, loops):
    with_resource(host_a, loops)
    rc, out, err = host_a.run("set-emergency-limit", "r1", "101")
    assert rc == 2 and out == "FAILURE cmd='set-emergency-limit' res='r1'\n"
    assert "DYING: percent argument '101' isn't between 0 and 100%\n" in err
    host_a.run("set-emergency-limit", "r1", "7")
    assert host_a.run("get-emergency-limit", "r1")[1] == "7\n"


def test_systemd_unit(host_a, loops):
    with_resource(host_a, loops)
    rc, _out, _err = host_a.run("set-systemd-unit", "r1", "foo.service")
    assert rc == 0
    assert host_a.link("resource-r1/systemd-start-unit") == "foo.service"
    assert host_a.link("resource-r1/systemd-want") == "hostA"
    assert host_a.run("get-systemd-unit", "r1")[1] == "foo.service foo.service\n"
    assert host_a.run("get-systemd-want", "r1")[1] == "hostA\n"


def test_dry_run_writes_no_links(host_a, loops):
    with_resource(host_a, loops)
    before = host_a.snapshot()
    rc, out, _err = host_a.run("--dry-run", "pause-sync", "r1")
    assert rc == 0
    assert "DRY_RUN: would create symlink '/mars/resource-r1/todo-hostA/sync' -> '0'\n" in out
    assert host_a.snapshot() == before


# ---------------------------------------------------------------------------- documented refusals

def test_primary_needs_module(host_a, loops):
    with_resource(host_a, loops)
    before = host_a.snapshot()
    rc, out, err = host_a.run("primary", "r1")
    assert rc == 2
    assert "DYING: cannot switch primary: mars kernel module is not loaded\n" in err
    assert out.endswith("-------- PHASE 1 -------- check preconditions:\nFAILURE cmd='primary' res='r1'\n")
    assert host_a.snapshot() == before


def test_primary_force_needs_fetch_paused(host_a, loops):
    with_resource(host_a, loops)
    host_a.modprobe()
    rc, _out, err = host_a.run("--force", "primary", "r1")
    assert rc == 2
    assert ("DYING: Cannot execute primary on resource r1: todo-switch 'fetch' must be off, but actually has value"
            " '1'. Use 'pause-fetch' and/or wait until it has really succeeded.\n") in err


def test_invalidate_on_designated_primary(host_a, loops):
    with_resource(host_a, loops)
    before = host_a.snapshot()
    rc, out, err = host_a.run("invalidate", "r1")
    assert rc == 2
    assert "WARNING: operation 'invalidate' cannot be executed on designated primary\n" in err
    assert "DYING: first switch the designated primary, or use --force if you are sure.\n" in err
    assert out.endswith("FAILURE cmd='invalidate' res='r1'\n")
    assert host_a.snapshot() == before


def test_leave_resource_on_primary(host_a, loops):
    with_resource(host_a, loops)
    rc, _out, err = host_a.run("leave-resource", "r1")
    assert rc == 2
    assert "DYING: first switch the designated primary, or use --force if you are sure.\n" in err
    common = host_a.mars("resource-r1/actual-hostA")
    os.symlink("1", os.path.join(common, "is-primary"))
    rc, _out, err = host_a.run("leave-resource", "r1")
    assert rc == 2
    assert "DYING: operation 'leave-resource' cannot be executed on actual primary\n" in err


def test_resize_and_leave_cluster_need_module(host_a, loops):
    with_resource(host_a, loops)
    text = "DYING: mars kernel module is not loaded. This is needed for communication with some other hosts!\n"
    assert text in host_a.run("resize", "r1")[2]
    assert text in host_a.run("leave-cluster")[2]


def test_wait_resource_times_out(host_a, loops):
    with_resource(host_a, loops)
    rc, out, err = host_a.run("--timeout=1", "wait-resource", "r1", "is-attach")
    assert rc == 2
    assert "at hostA: waiting 1 until actual 'is-attached' == '1'...\n" in out
    assert err.endswith("DYING: Timeout\n")


def test_secondary_and_delete_resource_without_kernel(host_a, loops):
    with_resource(host_a, loops)
    rc, out, _err = host_a.run("secondary", "r1")
    assert rc == 0
    assert "designated primary changed from 'hostA' to '(none)'\n" in out
    assert host_a.link("resource-r1/primary") == "(none)"
    rc, _out, err = host_a.run("delete-resource", "r1")
    assert rc == 2
    assert "DYING: resource 'r1' is not empty: first remove the hosts 'hostA' via leave-resource\n" in err
    rc, _out, _err = host_a.run("--force", "delete-resource", "r1")
    assert rc == 0
    assert host_a.link("resource-r1/size") == ".deleted"
    assert host_a.link("resource-r1/maxnr") == "1"   # maxnr survives for re-creation
    assert host_a.link("resource-r1/todo-hostA/attach") == ".deleted"
    # the new deletion method only: marsadm 2.9 with a current module writes no todo-global/delete-*
    assert not [n for n in os.listdir(host_a.mars("todo-global")) if n.startswith("delete-")]


def test_lowlevel_host_ips(host_a):
    cluster(host_a)
    host_a.run("lowlevel-set-host-ip", "hostB", "10.9.0.2")
    rc, out, err = host_a.run("lowlevel-ls-host-ips")
    assert (rc, out) == (0, "hostA 10.9.0.1\nhostB 10.9.0.2\n")
    assert err == "WARNING: EXPERTS ONLY -- risky lowlevel command 'lowlevel-ls-host-ips'\n"
    rc, out, err = host_a.run("lowlevel-delete-host", "hostB")
    assert (rc, out) == (0, "Removing host 'hostB' old IP '10.9.0.2'\n")
    # exactly what the real marsadm prints (checked on master and WIP-qio-for-5.10)
    assert err == "WARNING: EXPERTS ONLY -- risky lowlevel command 'lowlevel-delete-host'\n"
    assert host_a.link("ips/ip-hostB") == ".deleted"
    assert host_a.run("lowlevel-ls-host-ips")[1] == "hostA 10.9.0.1\n"


def test_cron_sleep_is_configurable(host_a, loops, monkeypatch):
    with_resource(host_a, loops)
    monkeypatch.setenv("MARS_EMU_CRON_SLEEP", "0")
    rc, out, _err = host_a.run("cron")
    assert rc == 0
    assert out.startswith("-------- GLOBAL PHASE 1 -------- purge global links:\n"
                          "-------- PHASE 2 -------- purge links and rotate logfiles:\n"
                          "--------- resource r1 64.000 MiB [1/1]\n")


def test_entry_point_as_subprocess(host_a):
    """``python3 -m marsemu.marsadm`` (what emulator/bin/marsadm execs) with the env-var interface."""
    env = dict(os.environ, MARS_EMU_ROOT=host_a.root, MARS_EMU_HOSTNAME="hostA",
               PYTHONPATH=os.path.join(os.path.dirname(__file__), "..", "..", "emulator"))
    proc = subprocess.run([sys.executable, "-m", "marsemu.marsadm", "--ip=10.9.0.1", "create-cluster"],
                          env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("New cluster UUID is 'hostA_")
    assert host_a.link("ips/ip-hostA") == "10.9.0.1"
    proc = subprocess.run([sys.executable, "-m", "marsemu.marsadm", "view-get-primary", "nores"],
                          env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 2


def test_unmounted_mars(host_a, monkeypatch):
    monkeypatch.setenv("MARS_EMU_MOUNTED", "0")
    rc, out, err = host_a.run("--ip=10.9.0.1", "create-cluster")
    assert (rc, out) == (2, "FAILURE cmd='create-cluster' res=''\n")
    assert "DYING: /mars is not mounted, cannot create any cluster info\n" in err
    assert host_a.snapshot() == {}


def test_secondary_stamps_none_just_after_old_primary(host_a, loops):
    """``(none)`` gets the old ``primary`` stamp + 1 ns so that a concurrent ``primary`` wins."""
    with_resource(host_a, loops)
    old = host_a.stamp("resource-r1/primary")
    before = host_a.snapshot()
    rc, _out, _err = host_a.run("secondary", "r1")
    assert rc == 0
    assert diff(before, host_a.snapshot()) == {"resource-r1/primary": ("l", "(none)")}
    assert host_a.stamp("resource-r1/primary") == old + 1


def test_view_all_default_header(host_a, loops):
    """``view all`` starts with the used compression/digest features (checked against marsadm 2.9)."""
    with_resource(host_a, loops)
    actual = host_a.mars("actual-hostA")
    os.symlink("4,5,0x05170000", os.path.join(actual, "usable"))
    for name in ("log-compression", "net-compression", "log-digest", "net-digest"):
        os.symlink("0", os.path.join(actual, "used-" + name))
    rc, out, _err = host_a.run("view", "all")
    assert rc == 0
    assert out == ('used-log-compression=""\nused-net-compression=""\nused-log-digest=""\nused-net-digest=""\n'
                   "--------- resource r1 64.000 MiB [1/1]\n"
                   "  r1 [1/1] NoAttach ModuleNotLoaded dCaSFR NotYetPrimary hostA \n")


@pytest.mark.parametrize("device_link", [None, ".deleted", "(none)"])
def test_get_device_falls_back_to_the_resource_name(host_a, device_link):
    """marsadm's device_name: no usable ``device-HOST`` link means ``/dev/mars/RES``."""
    cluster(host_a)
    os.makedirs(host_a.mars("resource-r1"))
    for name, value in (("size", "67108864"), ("data-hostA", "/dev/loop0"), ("replay-hostA", "log-000000001-hostA,0,0"),
                        ("device-hostA", device_link)):
        if value is not None:
            os.symlink(value, host_a.mars("resource-r1", name))
    rc, out, err = host_a.run("view-get-device", "r1")
    assert (rc, out) == (0, "/dev/mars/r1\n"), err
    if device_link is None:
        assert "WARNING: cannot read symlink '/mars/resource-r1/device-hostA'\n" in err
        os.symlink("mydev", host_a.mars("resource-r1", "device-hostA"))
        assert host_a.run("view-get-device", "r1")[1] == "/dev/mars/mydev\n"

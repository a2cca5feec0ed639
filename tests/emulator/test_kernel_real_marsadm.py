"""Acceptance: the real, unmodified marsadm (Perl) on top of the emulated kernel side.

Needs root (mount/UTS namespaces, loop devices) and the real marsadm script: ``MARS_REAL_MARSADM``
names a copy, else it is taken from ``GEOREP_MARS_GIT`` (the git directory of a clone of
schoebel/mars, at the commit the VM lab pins); skipped otherwise.  Each emulated host runs marsadm in its own namespaces where its root directory's
``mars``, ``proc/sys`` and ``dev/mars`` are bind-mounted on ``/mars``, ``/proc/sys`` and
``/dev/mars``.  The trees are compared with the recordings of the real module
(``MARS_TRACES_DIR``, default ../shared/traces/real-mars-A beside the work tree) when those are present.
"""

import hashlib
import os
import re
import shutil
import subprocess
import tempfile

import pytest

from kernel_cluster import EmuCluster, wait_until

MARS_COMMIT = "84810029d417275c32ae1290abf91446888fbbb6"  # WIP-qio-for-5.10, as lab/vmlab.py pins it


def real_marsadm():
    """MARS_REAL_MARSADM, or userspace/marsadm of the pinned commit in GEOREP_MARS_GIT, or ''."""
    if os.environ.get("MARS_REAL_MARSADM"):
        return os.environ["MARS_REAL_MARSADM"]
    git_dir = os.environ.get("GEOREP_MARS_GIT", "")
    if not git_dir:
        return ""
    shown = subprocess.run(["git", "--git-dir", git_dir, "show", MARS_COMMIT + ":userspace/marsadm"],
                           capture_output=True, check=False)
    if shown.returncode != 0:
        return ""
    path = os.path.join(tempfile.mkdtemp(prefix="georep-real-marsadm."), "marsadm")
    with open(path, "wb") as handle:
        handle.write(shown.stdout)
    os.chmod(path, 0o755)
    return path


MARSADM = real_marsadm()
TRACES = os.environ.get("MARS_TRACES_DIR", os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__))))), "shared", "traces", "real-mars-A"))
SIZE = 64 * 1024 * 1024
NS_SCRIPT = r'''
ROOT=$1; HOST=$2; shift 2
hostname "$HOST"
mount --bind "$ROOT/hostname" /etc/hostname
mount --bind "$ROOT/mars" /mars
mount --bind "$ROOT/proc/sys" /proc/sys
mount --bind "$ROOT/dev/mars" /dev/mars
cd /
exec "$@"
'''

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not MARSADM or not os.path.exists(MARSADM), reason="the real marsadm needs GEOREP_MARS_GIT (or MARS_REAL_MARSADM)"),
    pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("losetup"),
                       reason="needs root, unshare and losetup"),
]


def marsadm(host, *args, check=True):
    for sub in ("mars", "proc/sys", "dev/mars"):
        os.makedirs(os.path.join(host.paths.root, sub), exist_ok=True)
    with open(os.path.join(host.paths.root, "hostname"), "w", encoding="ascii") as handle:
        handle.write(host.name + "\n")
    argv = ["unshare", "-m", "-u", "--propagation", "private", "sh", "-c", NS_SCRIPT, "ns",
            host.paths.root, host.name, "perl", MARSADM, "--timeout=60"] + list(args)
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    if check and proc.returncode != 0:
        raise AssertionError("marsadm %s on %s: rc %d\n%s\n%s" % (
            " ".join(args), host.name, proc.returncode, proc.stdout, proc.stderr))
    return proc


def view(host, macro, res="r1"):
    return marsadm(host, "view-" + macro, res).stdout.strip().splitlines()[-1:] or [""]


def trace_shape(name, host_map):
    """Types and paths of a recorded /mars tree, host names mapped to ours."""
    shape = set()
    inside = False
    with open(os.path.join(TRACES, name), encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("=== TREE"):
                inside = True
            elif line.startswith("=== END TREE"):
                break
            elif inside:
                kind, path = line.split(" ")[:2]
                for old, new in host_map.items():
                    path = path.replace(old, new)
                shape.add((kind, path))
    return {entry for entry in shape if not _ignored(entry[1])}


def our_shape(host):
    shape = set()
    for top, dirs, files in os.walk(host.paths.mars):
        for name in dirs + files:
            full = os.path.join(top, name)
            kind = "l" if os.path.islink(full) else "d" if os.path.isdir(full) else "f"
            shape.add((kind, "/mars" + full[len(host.paths.mars):]))
    return {entry for entry in shape if not _ignored(entry[1])}


def _ignored(path):
    # lost+found: ext4; cache-*: marsadm's; todo-global/deleted-*: written by the recorded
    # (older) marsadm only; dot names: temporaries
    return ("lost+found" in path or "/cache-" in path or "/todo-global/deleted-" in path
            or "/." in path or path == "/mars")


def assert_shape(host, trace_name, host_map, skip_logs=False):
    if not os.path.exists(os.path.join(TRACES, trace_name)):
        return
    theirs = trace_shape(trace_name, host_map)
    ours = our_shape(host)
    if skip_logs:
        theirs = {e for e in theirs if not re.search(r"/(log|version)-\d{9}-", e[1])}
        ours = {e for e in ours if not re.search(r"/(log|version)-\d{9}-", e[1])}
    assert ours == theirs, "tree of %s differs from %s: missing %s, extra %s" % (
        host.name, trace_name, sorted(theirs - ours), sorted(ours - theirs))


def md5(path):
    with open(path, "rb") as handle:
        return hashlib.md5(handle.read(SIZE)).hexdigest()


@pytest.fixture(name="lab")
def fixture_lab(tmp_path):
    cluster = EmuCluster(str(tmp_path), 2, extra_args=["--primary-delay", "1"])
    for host in cluster.hosts:
        host.port = 7777  # marsadm and the module agree on the default port
    os.makedirs("/mars", exist_ok=True)
    os.makedirs("/dev/mars", exist_ok=True)
    loops = []
    try:
        for host in cluster.hosts:
            image = str(tmp_path / ("disk-%s.img" % host.name))
            with open(image, "wb") as handle:
                handle.truncate(SIZE)
                if host.name == "h1":
                    handle.write(os.urandom(4 * 1024 * 1024))
            host.image = image
            host.disk = subprocess.run(["losetup", "--find", "--show", image], capture_output=True, text=True,
                                       check=True).stdout.strip()
            loops.append(host.disk)
        yield cluster
    finally:
        cluster.stop()
        for loop in loops:
            subprocess.run(["losetup", "-d", loop], check=False)


def test_real_marsadm_lifecycle(lab):
    h1, h2 = lab.hosts
    names = {"vm1": "h1", "vm2": "h2", "/dev/vdb": "unused"}

    out = marsadm(h1, "--ip=%s" % h1.ip, "create-cluster").stdout
    assert "New cluster UUID is 'h1_" in out
    for host in lab.hosts:  # modprobe mars
        host.start()
    out = marsadm(h2, "--ip=%s" % h2.ip, "join-cluster", "h1", h1.ip).stdout
    assert "Successfully joined cluster" in out
    wait_until(lambda: h1.get("ips/ip-h2") == h2.ip, what="h1 to know h2")
    h1.trigger("3")
    wait_until(lambda: h1.get("actual-h2/read-stamp") and h2.get("actual-h1/read-stamp"), what="read-stamps")
    assert_shape(h1, "A03-after-snap.vm1.txt", names)
    assert_shape(h2, "A03-after-snap.vm2.txt", names)

    marsadm(h1, "create-resource", "r1", h1.disk)
    marsadm(h1, "wait-resource", "r1", "is-device")
    assert view(h1, "is-primary") == ["1"] and view(h1, "device-present") == ["1"]
    assert os.path.exists(os.path.join(h1.paths.dev_mars, "r1"))
    wait_until(lambda: h2.res("r1", "replay-h1"), what="resource to reach h2")

    out = marsadm(h2, "join-resource", "r1", h2.disk).stdout
    assert "Successfully joined resource 'r1' to primary 'h1'" in out
    wait_until(lambda: view(h2, "sync-rest") == ["0"], timeout=60, interval=0.5, what="view-sync-rest 0")
    wait_until(lambda: view(h2, "is-consistent") == ["1"], timeout=20, interval=0.5, what="view-is-consistent 1")
    assert md5(h1.image) == md5(h2.image)
    assert h2.res("r1", "syncpos-h2") == "log-000000001-h1,0,0"
    # the kernel rewrites marsadm's all-zero version link, as the real module does
    assert h1.res("r1", "version-000000001-h1") == hashlib.md5(b"1,h1,0:").hexdigest() + ",log-000000001-h1,0:"
    wait_until(lambda: h1.res("r1", "syncpos-h2") and h2.get("resource-r1/actual-h1/is-primary") == "1",
               what="trees to settle")

    for host in lab.hosts:
        host.trigger("3")
    wait_until(lambda: h1.res("r1", "verifystatus-h2") and h1.res("r1", "syncstatus-h2") == str(SIZE), what="settle")
    assert_shape(h1, "A06-synced-snap.vm1.txt", names)
    assert_shape(h2, "A06-synced-snap.vm2.txt", names)

    # logged writes (stand-in for the /dev/mars/r1 write path): fetched and replayed on h2
    for block in range(16):
        h1.write("r1", block * 1024 * 1024, os.urandom(64 * 1024))
    wait_until(lambda: h2.res("r1", "replay-h2") == h1.res("r1", "replay-h1") != "log-000000001-h1,0,0",
               timeout=20, what="h2 to replay the writes")
    wait_until(lambda: view(h2, "replay-rest") == ["0"] and view(h2, "fetch-rest") == ["0"], timeout=20,
               interval=0.5, what="view-replay-rest 0")
    assert md5(h1.disk) == md5(h2.disk)  # the block devices: their page cache is the truth

    # log-rotate (a non-empty logfile now): marsadm creates log-2, the kernel switches to it
    marsadm(h1, "log-rotate", "r1")
    wait_until(lambda: h1.res("r1", "replay-h1") == "log-000000002-h1,0,0", what="primary to switch logfiles")
    wait_until(lambda: h2.res("r1", "replay-h2") == "log-000000002-h1,0,0", what="secondary to follow")
    assert h2.res("r1", "version-000000002-h2") == h1.res("r1", "version-000000002-h1")
    assert h2.res("r1", "version-000000001-h2") == h1.res("r1", "version-000000001-h1")

    # handover: the new primary starts its own logfile, the old one replays it (version links equal)
    out = marsadm(h2, "primary", "r1").stdout
    assert "designated primary changed from 'h1' to 'h2'" in out
    assert view(h2, "is-primary") == ["1"] and view(h2, "device-present") == ["1"]
    wait_until(lambda: view(h1, "is-primary") == ["0"], what="old primary to step down")
    assert not os.path.exists(os.path.join(h1.paths.dev_mars, "r1"))
    assert h2.res("r1", "replay-h2") == "log-000000003-h2,0,0"
    wait_until(lambda: h1.res("r1", "replay-h1") == "log-000000003-h2,0,0", what="h1 to replay h2's log")
    assert h1.res("r1", "version-000000003-h1") == h2.res("r1", "version-000000003-h2")

    out = marsadm(h1, "primary", "r1").stdout
    assert "designated primary changed from 'h2' to 'h1'" in out
    assert view(h1, "is-primary") == ["1"]
    wait_until(lambda: h2.res("r1", "replay-h2") == "log-000000004-h1,0,0", what="h2 to replay h1's log")
    for host in lab.hosts:
        host.trigger("3")
    wait_until(lambda: h1.res("r1", "version-000000004-h2") and h2.res("r1", "version-000000004-h1"), what="settle")
    # the same steps as the recording: same tree, logfile numbers included
    assert_shape(h1, "A10-after-snap.vm1.txt", names)
    assert_shape(h2, "A10-after-snap.vm2.txt", names)

    # leaving: refused while attached (rc 2), then down + leave-resource work, as recorded (A11..A11c)
    refused = marsadm(h2, "--window=8", "leave-resource", "r1", check=False)
    assert refused.returncode == 2 and "must be off" in refused.stdout + refused.stderr
    marsadm(h2, "down", "r1")
    assert h2.indicator("r1", "is-attached") == "0"
    marsadm(h2, "--window=8", "leave-resource", "r1")
    assert view(h2, "is-member") == ["0"]
    stamp = h2.stamp("resource-r1/actual-h2/is-attached")
    h2.trigger("3")
    wait_until(lambda: h1.res("r1", "data-h2") is None, what="h1 to see h2 gone")
    assert h2.stamp("resource-r1/actual-h2/is-attached") == stamp  # no more indicators for a non-member
    for host in lab.hosts:
        host.trigger("3")
    wait_until(lambda: h2.res("r1", "replay-h2") is None and h1.get("resource-r1/actual-h2/is-attached") is None,
               what="the leave to spread")
    assert_shape(h1, "A11c-after-leave-snap.vm1.txt", names)
    assert_shape(h2, "A11c-after-leave-snap.vm2.txt", names)

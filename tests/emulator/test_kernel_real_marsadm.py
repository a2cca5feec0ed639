"""Acceptance: the real, unmodified marsadm (Perl) on top of the emulated kernel side.

Needs root (mount/UTS namespaces, loop devices) and the real marsadm script: ``MARS_REAL_MARSADM``
names a copy, else it is taken from ``GEOREP_MARS_GIT`` (the git directory of a clone of
schoebel/mars, at the commit the VM lab pins); skipped otherwise.  Each emulated host runs marsadm in its own namespaces where its root directory's
``mars``, ``proc/sys`` and ``dev/mars`` are bind-mounted on ``/mars``, ``/proc/sys`` and
``/dev/mars``.  The trees are compared with the recordings of the real module
(``MARS_TRACES_DIR``, default ../shared/traces/real-mars-A beside the work tree); a missing
recording fails the test.
"""

import atexit
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time

import pytest

import loopdevs
import test_marsadm_housekeeping as housekeeping
from kernel_cluster import EmuCluster, wait_for_pass, wait_until
from marsemu.common import Paths
from marsemu.kernel import writepath

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
    directory = tempfile.mkdtemp(prefix="georep-real-marsadm.")
    atexit.register(shutil.rmtree, directory, True)
    path = os.path.join(directory, "marsadm")
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
mount --rbind "$ROOT/proc/sys" /proc/sys  # rbind: with the FUSE trigger mounted inside
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
    # lost+found: ext4; cache-*: marsadm's; dot names: temporaries
    return "lost+found" in path or "/cache-" in path or "/." in path or path == "/mars"


def assert_shape(host, trace_name, host_map, skip_logs=False):
    assert os.path.exists(os.path.join(TRACES, trace_name)), \
        "recorded trace %s is missing: point MARS_TRACES_DIR at the real-mars-A recordings" % os.path.join(TRACES, trace_name)
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
    yield from emulated_hosts(tmp_path, 2)


@pytest.fixture(name="lab3")
def fixture_lab3(tmp_path):
    yield from emulated_hosts(tmp_path, 3)


def emulated_hosts(tmp_path, count):
    """COUNT emulated hosts (not started), each with a loop device as its disk; h1's has data."""
    cluster = EmuCluster(str(tmp_path), count, extra_args=["--primary-delay", "1"])
    for host in cluster.hosts:
        host.port = 7777  # marsadm and the module agree on the default port
    os.makedirs("/mars", exist_ok=True)
    os.makedirs("/dev/mars", exist_ok=True)
    images = []
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
            images.append(image)
        yield cluster
    finally:
        cluster.stop()
        for image in images:
            loopdevs.detach(image)


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
    # the module's last pass over r1 shows the activity indicators off (so the views print 0), then no more (A12b)
    wait_until(lambda: view(h2, "is-attach") == ["0"] and view(h2, "is-replay") == ["0"], what="the last indicators")
    stamp = h2.stamp("resource-r1/actual-h2/is-attached")
    for host in lab.hosts:
        host.trigger("3")
    wait_until(lambda: h2.res("r1", "replay-h2") is None and h1.res("r1", "data-h2") is None
               and h1.get("resource-r1/actual-h2/is-attached") == "0", what="the leave to spread")
    wait_for_pass(h2, res=None, passes=2)
    assert h2.stamp("resource-r1/actual-h2/is-attached") == stamp  # no more indicators for a non-member
    assert_shape(h1, "A11c-after-leave-snap.vm1.txt", names)
    assert_shape(h2, "A11c-after-leave-snap.vm2.txt", names)
    for host in lab.hosts:
        assert not glued_triggers(host), host.name


def ips_of(host):
    """``{name: ip}`` of HOST's /mars/ips: a trigger glued to the next one once left ``ip-h33`` here."""
    ips = host.path("ips")
    return {name: host.get("ips/" + name) for name in os.listdir(ips) if not name.startswith(".") and host.get("ips/" + name)}


def data_links(host, res="r1"):
    """The members' ``data-HOST`` links of RES in HOST's tree (a glued push once made ``data-h2p``)."""
    return sorted(name for name in os.listdir(host.path("resource-" + res))
                  if name.startswith("data-") and host.res(res, name))


# what the real marsadm writes, one code per write(): "1", "2", "3", "8", "t N", "p PEER VALUE PATH", ...
MARSADM_TRIGGER = re.compile(r"\d|t \d+|[pcf]( \S+){3}|P( \S+){4}")


def glued_triggers(host):
    """Codes HOST's daemon handled (its DEBUG log) that marsadm never writes: two writes read as one, e.g. '13'."""
    def codes():
        with open(host.log, encoding="utf-8", errors="replace") as handle:
            return re.findall(r" DEBUG trigger '(.*)'$", handle.read(), re.M)
    return [code for code in wait_until(codes, what="triggers in %s" % host.log) if not MARSADM_TRIGGER.fullmatch(code)]


def write_blocks(primary, count, seed):
    """Writes on the primary: through /dev/mars/r1 when the daemon logs them (FUSE write path), else the harness's log + disk."""
    device = os.path.join(primary.paths.dev_mars, "r1")
    for block in range(count):
        data = bytes([seed + block]) * 64 * 1024
        if writepath.fuse_available():
            fd = os.open(device, os.O_WRONLY)
            try:
                os.pwrite(fd, data, block * 1024 * 1024)
                os.fsync(fd)
            finally:
                os.close(fd)
        else:
            primary.write("r1", block * 1024 * 1024, data)


def logged_everything(primary):
    """The primary's replay link covers its whole logfile: the daemon has taken every write written so far."""
    name, position = primary.res("r1", "replay-" + primary.name).split(",")[:2]
    return int(position) == os.path.getsize(primary.path("resource-r1/" + name))


def wait_replayed(primary, hosts):
    wait_until(lambda: logged_everything(primary), what="%s to log the writes" % primary.name)
    for host in hosts:
        wait_until(lambda h=host: view(h, "replay-rest") == ["0"] and view(h, "fetch-rest") == ["0"]
                   and h.res("r1", "replay-" + h.name) == primary.res("r1", "replay-" + primary.name),
                   timeout=30, interval=0.5, what="%s to replay %s's writes" % (host.name, primary.name))
        assert md5(host.disk) == md5(primary.disk), host.name


def test_real_marsadm_three_hosts(lab3):
    """The real marsadm's trigger writes on three hosts: no phantom hosts or members; handover, forced primary,
    split-brain repair, leave and delete."""
    h1, h2, h3 = lab3.hosts
    marsadm(h1, "--ip=%s" % h1.ip, "create-cluster")
    for host in lab3.hosts:
        host.start()
    for host in (h2, h3):
        out = marsadm(host, "--ip=%s" % host.ip, "join-cluster", "h1", h1.ip).stdout
        assert "Successfully joined cluster" in out
    everyone = {host.name: host for host in lab3.hosts}
    expected = {"ip-" + host.name: host.ip for host in lab3.hosts}
    for host in lab3.hosts:
        wait_until(lambda h=host: all(h.get("ips/" + name) == ip for name, ip in expected.items()), timeout=20,
                   what="%s to know all hosts" % host.name)
        host.trigger("3")
    for host in lab3.hosts:
        wait_until(lambda h=host: all(h.get("actual-%s/read-stamp" % o) for o in everyone if o != h.name), timeout=20,
                   what="%s to read every peer" % host.name)
    for host in lab3.hosts:
        assert ips_of(host) == expected, host.name
        assert not glued_triggers(host), host.name

    marsadm(h1, "create-resource", "r1", h1.disk)
    marsadm(h1, "wait-resource", "r1", "is-device")
    for host in (h2, h3):
        wait_until(lambda h=host: h.res("r1", "replay-h1"), what="resource to reach %s" % host.name)
        out = marsadm(host, "join-resource", "r1", host.disk).stdout
        assert "Successfully joined resource 'r1' to primary 'h1'" in out
    for host in (h2, h3):
        wait_until(lambda h=host: view(h, "sync-rest") == ["0"] and view(h, "is-consistent") == ["1"], timeout=60,
                   interval=0.5, what="%s to sync" % host.name)
        assert md5(host.disk) == md5(h1.disk)
    for host in lab3.hosts:
        wait_until(lambda h=host: data_links(h) == ["data-h1", "data-h2", "data-h3"], what="members on %s" % host.name)
    write_blocks(h1, 8, 1)
    wait_replayed(h1, (h2, h3))

    # planned handover to h2; h1 and h3 follow its new logfile
    out = marsadm(h2, "primary", "r1").stdout
    assert "designated primary changed from 'h1' to 'h2'" in out
    assert view(h2, "is-primary") == ["1"] and view(h2, "device-present") == ["1"]
    wait_until(lambda: view(h1, "is-primary") == ["0"], what="h1 to step down")
    write_blocks(h2, 8, 20)
    wait_replayed(h2, (h1, h3))

    # h2 cut off and still written to; h3 forced to primary
    h2.cut()
    try:
        write_blocks(h2, 4, 40)  # reaches h2's log and disk only
        marsadm(h3, "pause-fetch", "r1")
        out = marsadm(h3, "primary", "--force", "r1").stdout
        assert "designated primary changed from 'h2' to 'h3'" in out
        assert view(h3, "is-primary") == ["1"]
        write_blocks(h3, 4, 60)
        wait_replayed(h3, (h1,))
    finally:
        h2.heal()
    wait_until(lambda: view(h2, "is-primary") == ["0"], timeout=20, interval=0.5, what="h2 to step down")
    wait_until(lambda: view(h2, "is-split-brain") == ["1"], timeout=20, interval=0.5, what="split brain on h2")
    assert md5(h2.disk) != md5(h3.disk)

    # the loser is invalidated: a full sync from h3 brings it back
    marsadm(h2, "invalidate", "r1")
    wait_until(lambda: view(h2, "sync-rest") == ["0"] and view(h2, "is-consistent") == ["1"], timeout=60,
               interval=0.5, what="h2 to sync again")
    for host in lab3.hosts:
        wait_until(lambda h=host: view(h, "is-split-brain") == ["0"], timeout=30, interval=0.5,
                   what="no split brain on %s" % host.name)
    write_blocks(h3, 4, 80)
    wait_replayed(h3, (h1, h2))

    # the secondaries leave, then the primary; then the empty resource is deleted
    for host in (h1, h2):
        marsadm(host, "down", "r1")
        marsadm(host, "--window=8", "leave-resource", "r1")
        assert view(host, "is-member") == ["0"]
    marsadm(h3, "secondary", "r1")
    marsadm(h3, "down", "r1")
    marsadm(h3, "--window=8", "leave-resource", "r1")
    marsadm(h3, "delete-resource", "r1")
    for host in lab3.hosts:
        host.trigger("3")
    for host in lab3.hosts:
        wait_until(lambda h=host: h.get("resource-r1/primary") is None and not data_links(h), timeout=20,
                   what="the deleted resource on %s" % host.name)
        assert ips_of(host) == expected, host.name
        assert not glued_triggers(host), host.name


class _Host:  # pylint: disable=too-few-public-methods
    """What ``marsadm`` needs of a host: a root and a name (no daemon)."""

    def __init__(self, root, name):
        self.paths = Paths(root)
        self.name = name


@pytest.mark.parametrize("name", sorted(housekeeping.CASES))
def test_real_marsadm_housekeeping(tmp_path, name):
    """The hand-made trees of test_marsadm_housekeeping.py: the real marsadm changes the same entries."""
    links, files, argv, expected = housekeeping.CASES[name]
    host = _Host(str(tmp_path), "A")
    housekeeping.materialize(host.paths.root, links, files, time.time_ns())
    before = housekeeping.snapshot(host.paths.root)
    proc = marsadm(host, *argv)
    assert housekeeping.changes(before, housekeeping.snapshot(host.paths.root)) == expected, proc.stdout + proc.stderr

"""Which ``log-*``, ``version-*`` and ``.deleted`` entries the emulated marsadm's housekeeping
(``log-purge-all``, ``invalidate``, ``log-delete-all``/``cron``, the link purge) turns into
``.deleted`` links or removes, on hand-made trees.

marsadm only writes ``.deleted`` links; the kernels copy them to their peers, where a logfile is
replaced by the link (``test_kernel_logfiles.py``).  Every expectation here was checked against
the real marsadm (WIP-qio-for-5.10, 84810029) on the same trees; ``test_kernel_real_marsadm.py``
runs these cases on it again where it is available.
"""

import io
import os
import time

import pytest

from marsadm_fakes import set_link
from marsemu.marsadm import main

NSEC = 1000000000
R = "resource-r1/"
FEATURES = "4,5,0x05170000"


def v(digest, nr, origin, pos, prev=""):
    """A version link value: ``DIGEST,log-N-ORIGIN,POS:PREVIOUS``."""
    return "%s,log-%09d-%s,%d:%s" % (digest, nr, origin, pos, prev)


def cluster(primary="B", hosts="ABC"):
    """Hosts A (where marsadm runs), B and C: alive, members of r1 (as links: value or (value, age in s))."""
    links = {"uuid": "A_1.000000000", R + "size": "1000", R + "primary": primary}
    for host in hosts:
        links.update({"ips/ip-" + host: "10.0.0.%d" % (ord(host) - 64), R + "data-" + host: "/dev/mars-test",
                      R + "device-" + host: "r1", "actual-%s/features" % host: FEATURES,
                      "actual-%s/tree" % host: "0.1", "actual-%s/alive" % host: ("1", 1),
                      "actual-%s/time" % host: ("now", 1),
                      R + "actual-%s/is-primary" % host: ("1" if host == primary else "0", 1),
                      R + "actual-%s/has-emergency" % host: ("0", 1)})
    return links


SPLIT = dict(cluster(), **{
    # A went on alone in log 2 (its own log-2-A) while B and C went on in log-2-B; A's replay link is gone
    # (invalidate's first step); C replays B's log; B's version 2 continues the old log 1 at 400
    R + "replay-B": "log-000000002-B,100,0", R + "replay-C": "log-000000002-B,100,0",
    R + "version-000000001-A": v("a1", 1, "A", 500), R + "version-000000001-B": v("b1", 1, "A", 400),
    R + "version-000000001-C": v("b1", 1, "A", 400),
    R + "version-000000002-B": v("b2", 2, "B", 100, "b1,log-000000001-A,400"),
    R + "version-000000002-C": v("b2", 2, "B", 100, "b1,log-000000001-A,400"),
})
SPLIT_FILES = {R + "log-000000001-A": (500, 1000), R + "log-000000002-A": (300, 5), R + "log-000000002-B": (100, 900)}

CASES = {
    # the loser's own logfile that no version chain reaches goes, however recent it is: marsadm
    # checks the age of the bare name in its working directory, where no such file is
    "log-purge-all: the loser's own logfile off every chain": (
        SPLIT, SPLIT_FILES, ["log-purge-all", "r1"],
        {R + "log-000000002-A": ".deleted"}),
    # B's replay link is ahead of its version links: the walk goes on from version 2,
    # so A's own version links 1 and 2 (B replayed A's logfiles) are reached and stay
    "log-purge-all: a chain bridged over a missing version link": (
        dict(cluster(), **{
            R + "replay-B": "log-000000003-B,0,0", R + "replay-C": "log-000000003-B,0,0",
            R + "version-000000001-A": v("a1", 1, "A", 500), R + "version-000000001-B": v("a1", 1, "A", 500),
            R + "version-000000001-C": v("a1", 1, "A", 500),
            R + "version-000000002-A": v("a2", 2, "A", 10, "a1,log-000000001-A,500"),
            R + "version-000000002-B": v("a2", 2, "A", 10, "a1,log-000000001-A,500"),
            R + "version-000000002-C": v("a2", 2, "A", 10, "a1,log-000000001-A,500")}),
        {R + "log-000000001-A": (500, 1000), R + "log-000000002-A": (10, 900), R + "log-000000003-B": (0, 5)},
        ["log-purge-all", "r1"],
        {}),
    # invalidate on the loser A: its diverged version 2 and replay link go, the log purge deletes its
    # own log 2, and the new replay link and version links copy the primary's
    "invalidate on the loser": (
        dict(SPLIT, **{
            R + "replay-A": "log-000000002-A,300,0",
            R + "version-000000002-A": v("a2", 2, "A", 300, "a1,log-000000001-A,500"),
            R + "todo-A/attach": "0", R + "todo-A/sync": "0", R + "todo-A/connect": "0", R + "todo-A/allow-replay": "0",
            R + "syncstatus-A": "1000"}),
        SPLIT_FILES, ["--force", "invalidate", "r1"],
        {R + "log-000000002-A": ".deleted", R + "replay-A": "log-000000002-B,0,0",
         R + "version-000000001-A": v("b1", 1, "A", 400),
         R + "version-000000002-A": v("b2", 2, "B", 100, "b1,log-000000001-A,400"),
         R + "skip-check-A": "000000002", R + "syncstatus-A": "0",
         R + "todo-A/attach": "1", R + "todo-A/sync": "1", R + "todo-A/connect": "1", R + "todo-A/allow-replay": "1"}),
    # everyone is in log 3: logs 1 and 2 go, and the version links below 2 (one more is kept)
    "log-delete-all: replayed logfiles and their older version links": (
        dict(cluster(), **{
            R + "replay-A": "log-000000003-A,10,0", R + "replay-B": "log-000000003-A,10,0",
            R + "replay-C": "log-000000003-A,10,0",
            R + "version-000000001-A": v("a1", 1, "A", 100), R + "version-000000001-B": v("a1", 1, "A", 100),
            R + "version-000000002-A": v("a2", 2, "A", 50, "a1,log-000000001-A,100"),
            R + "version-000000002-B": v("a2", 2, "A", 50, "a1,log-000000001-A,100"),
            R + "version-000000003-A": v("a3", 3, "A", 10, "a2,log-000000002-A,50"),
            R + "version-000000003-B": v("a3", 3, "A", 10, "a2,log-000000002-A,50")}),
        {R + "log-000000001-A": (100, 1000), R + "log-000000002-A": (50, 900), R + "log-000000003-A": (10, 800)},
        ["--window=10", "log-delete-all", "r1"],
        {R + "log-000000001-A": ".deleted", R + "log-000000002-A": ".deleted",
         R + "version-000000001-A": ".deleted", R + "version-000000001-B": ".deleted"}),
    # in split brain (two logfiles 2) the logfiles everyone replayed go, but the version links stay
    "log-delete-all: version links stay in split brain": (
        dict(SPLIT, **{
            R + "replay-B": "log-000000003-B,10,0", R + "replay-C": "log-000000003-B,10,0",
            R + "version-000000003-B": v("b3", 3, "B", 10, "b2,log-000000002-B,100"),
            R + "version-000000003-C": v("b3", 3, "B", 10, "b2,log-000000002-B,100")}),
        dict(SPLIT_FILES, **{R + "log-000000003-B": (10, 800)}),
        ["--window=10", "log-delete-all", "r1"],
        {R + "log-000000001-A": ".deleted"}),  # A's own log 2 is too young (its mtime), the scan stops there
    # .deleted links go once older than the oldest peer's time less the window, not before
    "link-purge-all: .deleted links the peers may not have seen yet stay": (
        dict(cluster(), **{
            "actual-C/time": ("old", 500),
            R + "replay-A": "log-000000001-A,0,0", R + "version-000000009-A": (".deleted", 550),
            R + "version-000000008-A": (".deleted", 650), "userspace/gone": (".deleted", 700)}),
        {R + "log-000000001-A": (0, 900)},
        ["--window=100", "link-purge-all", "all"],
        {R + "version-000000008-A": None, "userspace/gone": None}),
}


def materialize(root, links, files, now_ns):
    """``links``: {rel: value or (value, age in s)}, age 1000 s by default; ``files``: {rel: (size, age)}."""
    mars = os.path.join(root, "mars")
    os.makedirs(mars, exist_ok=True)
    os.chmod(mars, 0o700)
    for rel, value in links.items():
        value, age = value if isinstance(value, tuple) else (value, 1000)
        if value in ("now", "old"):  # a Lamport time link
            value = "%d.%09d" % divmod(now_ns - age * NSEC, NSEC)
        path = os.path.join(mars, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        set_link(path, value, now_ns - age * NSEC)
    for rel, (size, age) in files.items():
        path = os.path.join(mars, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.truncate(size)
        os.utime(path, ns=(now_ns - age * NSEC,) * 2)


def snapshot(root):
    """{rel: link value, or 'FILE'} below /mars (no dot names, no marsadm caches)."""
    mars = os.path.join(root, "mars")
    result = {}
    for base, dirs, files in os.walk(mars):
        dirs[:] = [d for d in dirs if not d.startswith(("cache-", "."))]
        for name in files:
            if not name.startswith("."):
                path = os.path.join(base, name)
                result[os.path.relpath(path, mars)] = os.readlink(path) if os.path.islink(path) else "FILE"
    return result


def changes(before, after):
    """{rel: new value, or None when removed} of what differs, ``compat-deletions`` left out."""
    result = {rel: after.get(rel) for rel in set(before) | set(after) if before.get(rel) != after.get(rel)}
    result.pop("compat-deletions", None)  # set by the real marsadm's --delete-method
    return result


def run_emulated(root, argv):
    out, err = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    os.chdir("/")  # as the collection runs marsadm: bare names are looked up there
    try:
        rc = main(["--timeout=5"] + argv, stdout=out, stderr=err, root=root, hostname="A")
    finally:
        os.chdir(cwd)
    return rc, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("name", sorted(CASES))
def test_housekeeping(tmp_path, name):
    links, files, argv, expected = CASES[name]
    root = str(tmp_path)
    materialize(root, links, files, time.time_ns())
    before = snapshot(root)
    rc, out, err = run_emulated(root, argv)
    assert rc == 0, out + err
    assert changes(before, snapshot(root)) == expected, out + err


def test_split_brain_keeps_version_links_with_a_warning(tmp_path):
    materialize(str(tmp_path), SPLIT, SPLIT_FILES, time.time_ns())
    _rc, _out, err = run_emulated(str(tmp_path), ["--window=10", "log-delete-all", "r1"])
    # the duplicate number as the logfile names spell it
    assert "SPLIT BRAIN at resource 'r1' detected: duplicate logfile number 000000002\n" in err
    assert "WARNING: Keeping some versionlinks\n" in err

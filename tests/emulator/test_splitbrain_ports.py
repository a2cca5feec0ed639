"""The two ports of marsadm's split-brain check give the same answer on the same /mars trees.

One port is the collection's reader (plugins/module_utils/state.py, ``ResourceState.split_brain``),
the other the emulated marsadm (``view-is-split-brain``, marsemu/marsadm/lookup.py).  They check each
other, so every tree here is fed to both: the trees recorded from the real module (where the real
marsadm's own answer is known as well), hand-made trees around the version-link walk, and trees an
emulated cluster produces before and after a forced primary during a partition.
"""

import glob
import io
import os
import time

import pytest
import yaml

from ansible_collections.georep.mars.plugins.module_utils.state import ClusterState
from ansible_collections.georep.mars.plugins.module_utils.tree import MarsTree
from kernel_cluster import wait_until
from marsadm_fakes import set_link
from marsemu.marsadm import main
from test_kernel_splitbrain import force_primary_during_partition

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "unit", "plugins", "fixtures")
NSEC = 1000000000


def materialize(tree, root):
    """Write a MarsTree (e.g. parsed from a recorded listing) as a real /mars below ``root``."""
    mars = os.path.join(root, "mars")
    os.makedirs(mars, mode=0o700, exist_ok=True)
    for rel in sorted(tree.children):
        directory = os.path.join(mars, rel) if rel else mars
        os.makedirs(directory, exist_ok=True)
        for name, (kind, value, mtime) in sorted(tree.children[rel].items()):
            path = os.path.join(directory, name)
            if kind == "l":
                set_link(path, value, int(mtime * NSEC))
            else:
                with open(path, "wb") as handle:
                    handle.truncate(value)
    os.chmod(mars, 0o700)


def build(root, links, files=(), res="r1"):
    """A hand-made resource: ``links`` {name: value} and logfiles [(name, size)] below resource-RES."""
    base = os.path.join(root, "mars", "resource-" + res)
    os.makedirs(base, exist_ok=True)
    os.chmod(os.path.join(root, "mars"), 0o700)
    stamp = time.time_ns()
    for name, value in dict({"size": "1048576"}, **links).items():
        os.makedirs(os.path.dirname(os.path.join(base, name)), exist_ok=True)
        set_link(os.path.join(base, name), value, stamp)
    for name, size in files:
        with open(os.path.join(base, name), "wb") as handle:
            handle.truncate(size)


def collection_answer(root, host, res="r1"):
    tree = MarsTree.read(os.path.join(root, "mars"))
    return ClusterState(tree, host, time.time(), 60).resource(res).split_brain


def emulator_answer(root, host, res="r1"):
    out, err = io.StringIO(), io.StringIO()
    rc = main(["view-is-split-brain", res], stdout=out, stderr=err, root=root, hostname=host)
    assert rc == 0 and out.getvalue() in ("0\n", "1\n"), (rc, out.getvalue(), err.getvalue())
    return out.getvalue() == "1\n"


# ---------------------------------------------------------------------------- recorded trees

def recorded():
    for path in sorted(glob.glob(os.path.join(FIXTURES, "trees", "*.tree"))):
        name = os.path.basename(path)[:-len(".tree")]
        with open(path, encoding="utf-8") as handle:
            tree = MarsTree.from_find_listing(handle.read())
        if "resource-r1" not in tree.dirs:
            continue
        real = None
        views = os.path.join(FIXTURES, "views", name + ".yml")
        if os.path.exists(views):
            with open(views, encoding="utf-8") as handle:
                stdout = yaml.safe_load(handle)["views"].get("view-is-split-brain", {}).get("stdout", "")
            real = {"1\n": True, "0\n": False}.get(stdout)
        yield pytest.param(tree, name.rsplit(".", 1)[1], real, id=name)


@pytest.mark.parametrize("tree, host, real", list(recorded()))
def test_recorded_trees(tmp_path, tree, host, real):
    root = str(tmp_path)
    materialize(tree, root)
    answers = (collection_answer(root, host), emulator_answer(root, host))
    assert answers[0] == answers[1], answers
    if real is not None:  # what the real marsadm said on that snapshot
        assert answers[0] == real


# ---------------------------------------------------------------------------- hand-made trees

D4 = "4" * 32
D5A, D5B = "5a" * 16, "5b" * 16
D6A = "6a" * 16
V4 = "%s,log-000000004-vm1,100:" % D4
V5A = "%s,log-000000005-vm1,200:%s,log-000000004-vm1,100" % (D5A, D4)
V6A = "%s,log-000000006-vm1,50:%s,log-000000005-vm1,200" % (D6A, D5A)
BASE = {
    "data-vm1": "/dev/vdb", "data-vm2": "/dev/vdb",
    "version-000000004-vm1": V4, "version-000000004-vm2": V4,
    "version-000000005-vm1": V5A, "version-000000006-vm1": V6A,
}
LOGS = [("log-000000004-vm1", 100), ("log-000000005-vm1", 200), ("log-000000006-vm1", 50)]

CASES = [
    # (id, links on top of BASE, logfiles, split brain?)
    ("in-step", {"replay-vm1": "log-000000006-vm1,50,0", "replay-vm2": "log-000000006-vm1,50,0",
                 "version-000000005-vm2": V5A, "version-000000006-vm2": V6A}, LOGS, False),
    ("lagging-secondary", {"replay-vm1": "log-000000006-vm1,50,0", "replay-vm2": "log-000000004-vm1,100,0"},
     LOGS, False),
    ("lagging-inside-a-logfile", {"replay-vm1": "log-000000006-vm1,50,0", "replay-vm2": "log-000000005-vm1,120,0"},
     LOGS, False),
    # marsadm compares the version links of the logfile's origin there, not the members' own: a
    # secondary whose own version link is not rewritten yet is no split brain
    ("own-version-link-behind", {"replay-vm1": "log-000000006-vm1,50,0", "replay-vm2": "log-000000006-vm1,50,0",
                                 "version-000000006-vm2": "%s,log-000000006-vm1,0:%s" % ("0" * 32, D5A)},
     LOGS, False),
    ("missing-version-link-falls-back", {
        "replay-vm1": "log-000000007-vm1,10,0", "replay-vm2": "log-000000006-vm1,50,0",
        "version-000000006-vm2": V6A}, LOGS, False),
    ("diverged-other-origin", {
        "replay-vm1": "log-000000006-vm1,50,0", "replay-vm2": "log-000000005-vm2,300,0",
        "version-000000005-vm2": "%s,log-000000005-vm2,300:%s,log-000000004-vm1,100" % (D5B, D4)},
     LOGS + [("log-000000005-vm2", 300)], True),
    ("diverged-same-origin-further", {
        # vm2 went on in log 5 beyond where vm1 switched to log 6
        "replay-vm1": "log-000000006-vm1,50,0", "replay-vm2": "log-000000005-vm1,300,0"}, LOGS, True),
    ("same-position-other-origins", {
        "replay-vm1": "log-000000005-vm1,200,0", "replay-vm2": "log-000000005-vm2,200,0",
        "version-000000005-vm2": "%s,log-000000005-vm2,200:%s,log-000000004-vm1,100" % (D5B, D4)}, LOGS, True),
    ("untraceable-history", {"replay-vm1": "log-000000009-vm1,50,0", "replay-vm2": "log-000000004-vm1,100,0"},
     LOGS, True),
    ("duplicate-logfile-number", {"replay-vm1": "log-000000006-vm1,50,0", "replay-vm2": "log-000000006-vm1,50,0",
                                  "version-000000005-vm2": V5A, "version-000000006-vm2": V6A},
     LOGS + [("log-000000006-vm2", 10)], True),
    ("third-member-diverged", {
        "data-vm3": "/dev/vdb", "version-000000004-vm3": V4,
        "replay-vm1": "log-000000006-vm1,50,0", "replay-vm2": "log-000000006-vm1,50,0",
        "version-000000005-vm2": V5A, "version-000000006-vm2": V6A,
        "replay-vm3": "log-000000005-vm3,20,0",
        "version-000000005-vm3": "%s,log-000000005-vm3,20:%s,log-000000004-vm1,100" % (D5B, D4)},
     LOGS + [("log-000000005-vm3", 20)], True),
    ("single-member", {"replay-vm1": "log-000000006-vm1,50,0"}, LOGS, False),
]


@pytest.mark.parametrize("links, files, expected", [pytest.param(*c[1:], id=c[0]) for c in CASES])
@pytest.mark.parametrize("host", ["vm1", "vm2"])
def test_hand_made_trees(tmp_path, links, files, expected, host):
    root = str(tmp_path)
    build(root, dict(BASE, **links), files)
    assert (collection_answer(root, host), emulator_answer(root, host)) == (expected, expected)


# ---------------------------------------------------------------------------- emulated cluster

def snapshot_answers(cluster, tmp_path, label):
    """Both answers on a frozen copy of each host's tree (the daemons keep changing theirs)."""
    result = {}
    for host in cluster.hosts:
        root = str(tmp_path / ("%s-%s" % (label, host.name)))
        materialize(MarsTree.read(host.paths.mars), root)
        result[host.name] = (collection_answer(root, host.name), emulator_answer(root, host.name))
    return result


def test_trees_of_an_emulated_split_brain(synced, tmp_path):
    before = snapshot_answers(synced, tmp_path, "before")
    assert before == {name: (False, False) for name in before}
    h1 = synced.hosts[0]
    force_primary_during_partition(synced)
    # h1's history ends with the write it logged while cut off
    h1_end = "log-000000001-h1,%d,0" % os.path.getsize(h1.path("resource-r1/log-000000001-h1"))
    for host in synced.hosts:  # until every host has seen both histories
        # h1 was stopped (SIGSTOP) for the partition: its requests in flight time out first, then
        # every host pulls again; a loaded machine stretches that well beyond one tree update
        wait_until(lambda h=host: h.res("r1", "replay-h1") == h1_end
                   and h.res("r1", "replay-h2") == synced.hosts[1].res("r1", "replay-h2"),
                   timeout=30, what="both histories on %s" % host.name)
    after = snapshot_answers(synced, tmp_path, "after")
    assert after == {name: (True, True) for name in after}

"""The monitoring role's exporter against /mars trees of the real module (traces/real-mars-A).

Each test rebuilds one host's /mars from a recorded snapshot (symlinks with their values,
logfiles as sparse files of their recorded size) and runs the exporter script on it. No lab
host is needed; the numbers to expect come from the same snapshot's marsadm output.
"""

import os
import re
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(REPO, "roles", "monitoring", "files", "georep-mars-metrics.py")
TRACES = os.environ.get("GEOREP_TRACES", os.path.join(os.path.dirname(REPO), "shared", "traces", "real-mars-A"))
SAMPLE_RE = re.compile(r'^([a-z_]+)(\{[^}]*\})? (-?[0-9.e+]+)$')

pytestmark = pytest.mark.skipif(not os.path.isdir(TRACES), reason="the real-MARS traces are not here")


def build_tree(snapshot, root):
    """Recreate the /mars tree of a snapshot file under root; return the path of /mars."""
    lines = open(os.path.join(TRACES, snapshot), encoding="utf-8").read().splitlines()
    start = lines.index("=== TREE find /mars -printf '%y %p %l %T@ %s\\n' | sort") + 1
    end = lines.index("=== END TREE")
    for line in lines[start:end]:
        kind, rest = line.split(" ", 1)
        path, rest = rest.split(" ", 1)
        value, unused_mtime, size = rest.rsplit(" ", 2)
        target = os.path.join(root, path.lstrip("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if kind == "d":
            os.makedirs(target, exist_ok=True)
        elif kind == "l":
            os.symlink(value, target)
        elif kind == "f":
            with open(target, "wb") as handle:
                handle.truncate(int(size))
    return os.path.join(root, "mars")


def metrics(mars_dir, host, now=1795628860.0):
    """{(name, frozenset(labels without host)): value} from one run of the exporter."""
    out = subprocess.run([sys.executable, SCRIPT, "--mars-dir", mars_dir, "--host", host, "--now", str(now)],
                         capture_output=True, text=True, check=True).stdout
    result = {}
    for line in out.splitlines():
        if line.startswith("#"):
            assert re.match(r"^# (HELP|TYPE) [a-z_]+ .+$", line), line
            continue
        match = SAMPLE_RE.match(line)
        assert match, "not Prometheus text format: %r" % line
        labels = dict(re.findall(r'([a-z_]+)="([^"]*)"', match.group(2) or ""))
        assert labels.pop("host") == host
        result[(match.group(1), frozenset(labels.items()))] = float(match.group(3))
    return result


def res(values, name, resource="r1", **labels):
    labels["resource"] = resource
    return values[(name, frozenset(labels.items()))]


def test_secondary_while_fetching_reports_the_lag_marsadm_shows(tmp_path):
    # vm2 right after 16 MiB were written on vm1: replay-vm1 is at 17121280, vm2 has fetched
    # 7237632 bytes and replayed up to 7235580 (its replay link's length field says 2052 to go).
    values = metrics(build_tree("A07-after-write-snap.vm2.txt", str(tmp_path)), "vm2")
    assert res(values, "mars_resource_info", role="secondary", designated_primary="vm1") == 1
    assert res(values, "mars_resource_primary") == 0
    assert res(values, "mars_resource_lag_bytes") == 17121280 - 7235580
    assert res(values, "mars_resource_fetch_lag_bytes") == 17121280 - 7237632
    assert res(values, "mars_resource_replay_lag_bytes") == 2052
    assert res(values, "mars_resource_fetching") == 1
    assert res(values, "mars_resource_split_brain") == 0
    assert res(values, "mars_resource_emergency") == 0
    assert res(values, "mars_resource_sync_progress_ratio") == 1
    assert values[("mars_up", frozenset())] == 1
    assert values[("mars_emergency_level", frozenset())] == 0
    assert values[("mars_peer_alive_age_seconds", frozenset({("peer", "vm1")}))] == pytest.approx(6.305, abs=0.01)


def test_primary_has_no_lag(tmp_path):
    values = metrics(build_tree("A07-after-write-snap.vm1.txt", str(tmp_path)), "vm1")
    assert res(values, "mars_resource_info", role="primary", designated_primary="vm1") == 1
    assert res(values, "mars_resource_designated_primary") == 1
    assert res(values, "mars_resource_device_up") == 1
    assert res(values, "mars_resource_lag_bytes") == 0


def test_replayed_secondary_has_caught_up(tmp_path):
    values = metrics(build_tree("A07-replayed-snap.vm2.txt", str(tmp_path)), "vm2")
    assert res(values, "mars_resource_lag_bytes") == 0
    assert res(values, "mars_resource_fetch_lag_bytes") == 0


def test_sync_progress_while_syncing(tmp_path):
    mars = build_tree("A05-after-snap.vm2.txt", str(tmp_path))
    values = metrics(mars, "vm2")
    synced = int(os.readlink(os.path.join(mars, "resource-r1", "syncstatus-vm2")))
    assert res(values, "mars_resource_sync_done_bytes") == synced
    assert res(values, "mars_resource_sync_progress_ratio") == pytest.approx(synced / 268435456, abs=1e-6)
    assert res(values, "mars_resource_size_bytes") == 268435456


def test_after_handover_the_new_primary_is_primary(tmp_path):
    values = metrics(build_tree("A09-after-snap.vm2.txt", str(tmp_path)), "vm2")
    assert res(values, "mars_resource_info", role="primary", designated_primary="vm2") == 1
    old = metrics(build_tree("A09-after-snap.vm1.txt", str(tmp_path / "old")), "vm1")
    assert res(old, "mars_resource_info", role="secondary", designated_primary="vm2") == 1


def test_after_leave_resource_the_host_is_no_member(tmp_path):
    values = metrics(build_tree("A11c-after-leave-snap.vm2.txt", str(tmp_path)), "vm2")
    assert res(values, "mars_resource_member") == 0
    assert res(values, "mars_resource_info", role="none", designated_primary="vm1") == 1


def test_two_logfiles_of_one_number_are_a_split_brain(tmp_path):
    mars = build_tree("A07-replayed-snap.vm2.txt", str(tmp_path))
    for origin in ("vm1", "vm2"):
        open(os.path.join(mars, "resource-r1", "log-000000002-" + origin), "wb").close()
    assert res(metrics(mars, "vm2"), "mars_resource_split_brain") == 1


def test_kernel_split_brain_message_counts(tmp_path):
    mars = build_tree("A07-replayed-snap.vm2.txt", str(tmp_path))
    link = os.path.join(mars, "resource-r1", "actual-vm2", "msg-err-splitbrain-detected")
    if os.path.lexists(link):
        os.remove(link)
    os.symlink("1795628860.0 1795628860.0 split brain detected", link)
    values = metrics(mars, "vm2")
    assert res(values, "mars_resource_split_brain") == 1
    assert res(values, "mars_resource_error_messages") >= 1


def test_emergency_and_log_gap(tmp_path):
    mars = build_tree("A07-replayed-snap.vm2.txt", str(tmp_path))
    actual = os.path.join(mars, "resource-r1", "actual-vm2")
    for name, value in (("has-emergency", "1"), ("msg-wrn-log-consecutive", "1795628860.0 1795628860.0 gap")):
        if os.path.lexists(os.path.join(actual, name)):
            os.remove(os.path.join(actual, name))
        os.symlink(value, os.path.join(actual, name))
    values = metrics(mars, "vm2")
    assert res(values, "mars_resource_emergency") == 1
    assert res(values, "mars_resource_log_gap") == 1


def test_deleted_links_count_as_absent(tmp_path):
    mars = build_tree("A07-replayed-snap.vm2.txt", str(tmp_path))
    for name in ("data-vm2", "replay-vm2"):
        os.remove(os.path.join(mars, "resource-r1", name))
        os.symlink(".deleted", os.path.join(mars, "resource-r1", name))
    values = metrics(mars, "vm2")
    assert res(values, "mars_resource_member") == 0
    assert ("mars_resource_lag_bytes", frozenset({("resource", "r1")})) not in values


def test_no_cluster_yet(tmp_path):
    mars = tmp_path / "mars"
    mars.mkdir()
    values = metrics(str(mars), "vm9")
    assert values[("mars_up", frozenset())] == 0
    assert not [key for key in values if key[0].startswith("mars_resource_")]


def test_output_file_is_replaced_atomically(tmp_path):
    mars = build_tree("A07-replayed-snap.vm2.txt", str(tmp_path / "t"))
    out = tmp_path / "textfile" / "mars.prom"
    subprocess.run([sys.executable, SCRIPT, "--mars-dir", mars, "--host", "vm2", "--output", str(out)], check=True)
    assert "mars_resource_lag_bytes" in out.read_text()
    assert oct(out.stat().st_mode & 0o777) == "0o644"
    assert os.listdir(out.parent) == ["mars.prom"]

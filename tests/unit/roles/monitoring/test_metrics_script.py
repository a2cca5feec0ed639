# -*- coding: utf-8 -*-
# Copyright: (c) 2026, georep.mars contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The monitoring role's exporter script, run as the timer runs it, on /mars trees of the real module.

Each test rebuilds one host's /mars from a recorded snapshot (tests/unit/plugins/fixtures/trees,
copied from traces/real-mars-A: symlinks with their values and mtimes, logfiles as sparse files of
their recorded size) and runs the script on it with python3. No lab host is needed; the numbers to
expect come from the same snapshot's marsadm output. The script runs from the work tree (it imports
the reader from plugins/module_utils) and in the installed layout (script, tree.py and state.py in
one directory, as the role installs them). Moved here from tests/lab, where it skipped unless the
traces of one machine were present.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ast
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from ansible_collections.georep.mars.tests.unit.roles.role_scripts import (
    METRICS, READER_DIR, REPO, SPACE_CHECK, TREES_DIR, build_tree, parse_metrics, recorded_trees)

NOW = 1795628860.0
READER_FILES = ['tree.py', 'state.py']


def run(mars_dir, host, script=METRICS, now=NOW):
    out = subprocess.run([sys.executable, script, '--mars-dir', mars_dir, '--host', host, '--now', str(now)],
                         capture_output=True, text=True, check=True, cwd='/').stdout
    return out


def metrics(mars_dir, host, now=NOW):
    return parse_metrics(run(mars_dir, host, now=now), host)


def res(values, name, resource='r1', **labels):
    labels['resource'] = resource
    return values[(name, frozenset(labels.items()))]


def test_the_recorded_trees_are_here():
    """No test may pass because its input is missing."""
    assert len(recorded_trees()) >= 34, 'the recorded trees are missing in %s' % TREES_DIR


def test_secondary_while_fetching_reports_the_lag_marsadm_shows(tmp_path):
    # vm2 right after 16 MiB were written on vm1: replay-vm1 is at 17121280, vm2 has fetched
    # 7237632 bytes and replayed up to 7235580 (its replay link's length field says 2052 to go).
    # marsadm view-fetch-rest printed 9883648 and view-replay-rest 2052 on this snapshot.
    values = metrics(build_tree(tmp_path, 'A07-after-write.vm2')[0], 'vm2')
    assert res(values, 'mars_resource_info', role='secondary', designated_primary='vm1') == 1
    assert res(values, 'mars_resource_primary') == 0
    assert res(values, 'mars_resource_lag_bytes') == 17121280 - 7235580
    assert res(values, 'mars_resource_fetch_lag_bytes') == 17121280 - 7237632
    assert res(values, 'mars_resource_replay_lag_bytes') == 2052
    assert res(values, 'mars_resource_fetching') == 1
    assert res(values, 'mars_resource_consistent') == 1
    assert res(values, 'mars_resource_split_brain') == 0
    assert res(values, 'mars_resource_emergency') == 0
    assert res(values, 'mars_resource_sync_progress_ratio') == 1
    assert values[('mars_up', frozenset())] == 1
    assert values[('mars_emergency_level', frozenset())] == 0
    assert values[('mars_peer_alive_age_seconds', frozenset({('peer', 'vm1')}))] == pytest.approx(6.305, abs=0.01)


def test_primary_has_no_lag(tmp_path):
    values = metrics(build_tree(tmp_path, 'A07-after-write.vm1')[0], 'vm1')
    assert res(values, 'mars_resource_info', role='primary', designated_primary='vm1') == 1
    assert res(values, 'mars_resource_designated_primary') == 1
    assert res(values, 'mars_resource_device_up') == 1
    assert res(values, 'mars_resource_lag_bytes') == 0


def test_replayed_secondary_has_caught_up(tmp_path):
    values = metrics(build_tree(tmp_path, 'A07-replayed.vm2')[0], 'vm2')
    assert res(values, 'mars_resource_lag_bytes') == 0
    assert res(values, 'mars_resource_fetch_lag_bytes') == 0


def test_sync_progress_while_syncing(tmp_path):
    # the recorded snapshot has syncstatus-vm2 0; halfway through the sync it says 134217728
    mars, unused_now = build_tree(tmp_path, 'A05-after.vm2', [{'link': 'resource-r1/syncstatus-vm2', 'value': 134217728}])
    values = metrics(mars, 'vm2')
    assert res(values, 'mars_resource_sync_done_bytes') == 134217728
    assert res(values, 'mars_resource_sync_progress_ratio') == 0.5
    assert res(values, 'mars_resource_size_bytes') == 268435456
    assert res(values, 'mars_resource_consistent') == 0


def test_after_handover_the_new_primary_is_primary(tmp_path):
    values = metrics(build_tree(tmp_path / 'new', 'A09-after.vm2')[0], 'vm2')
    assert res(values, 'mars_resource_info', role='primary', designated_primary='vm2') == 1
    old = metrics(build_tree(tmp_path / 'old', 'A09-after.vm1')[0], 'vm1')
    assert res(old, 'mars_resource_info', role='secondary', designated_primary='vm2') == 1


def test_after_leave_resource_the_host_is_no_member(tmp_path):
    values = metrics(build_tree(tmp_path, 'A11c-after-leave.vm2')[0], 'vm2')
    assert res(values, 'mars_resource_member') == 0
    assert res(values, 'mars_resource_info', role='none', designated_primary='vm1') == 1
    assert ('mars_resource_lag_bytes', frozenset({('resource', 'r1')})) not in values


def test_resource_directory_without_size_is_not_reported(tmp_path):
    # vm2 before join-resource: resource-r1/ exists but has no size link; info lists no resource
    values = metrics(build_tree(tmp_path, 'A04-after.vm2')[0], 'vm2')
    assert values[('mars_up', frozenset())] == 1
    assert not [key for key in values if key[0].startswith('mars_resource_')]


def test_two_logfiles_of_one_number_are_a_split_brain(tmp_path):
    mars, unused_now = build_tree(tmp_path, 'A07-replayed.vm2', [
        {'file': 'resource-r1/log-000000002-vm1', 'size': 0}, {'file': 'resource-r1/log-000000002-vm2', 'size': 0}])
    assert res(metrics(mars, 'vm2'), 'mars_resource_split_brain') == 1


def test_kernel_split_brain_message_is_an_error_message(tmp_path):
    # Before, the exporter also counted this message as split brain; marsadm view-is-split-brain
    # and georep.mars.info do not (they compare the members' logfile histories), so the metric
    # follows them and the message shows in mars_resource_error_messages (and in info's errors).
    mars, unused_now = build_tree(tmp_path, 'A07-replayed.vm2', [
        {'link': 'resource-r1/actual-vm2/msg-err-splitbrain-detected', 'value': '1795628860.0 1795628860.0 split brain detected'}])
    values = metrics(mars, 'vm2')
    assert res(values, 'mars_resource_split_brain') == 0
    assert res(values, 'mars_resource_error_messages') == 1


def test_emergency_and_log_gap(tmp_path):
    mars, unused_now = build_tree(tmp_path, 'A07-replayed.vm2', [
        {'link': 'resource-r1/actual-vm2/has-emergency', 'value': '1'},
        {'link': 'resource-r1/actual-vm2/msg-wrn-log-consecutive', 'value': '1795628860.0 1795628860.0 gap'}])
    values = metrics(mars, 'vm2')
    assert res(values, 'mars_resource_emergency') == 1
    assert res(values, 'mars_resource_log_gap') == 1


def test_hole_in_the_logfile_sequence_needs_a_full_sync(tmp_path):
    # Section 10 of the reference: the primary stopped logging in emergency mode (log 6 missing);
    # vm2 replayed 5 and 7 and looks consistent, but only invalidate repairs it. The kernel wrote
    # no message here; before, the exporter looked at the messages only and reported no gap.
    mars, unused_now = build_tree(tmp_path, 'A11-after.vm2', [
        {'file': 'resource-r1/log-000000005-vm1', 'size': 4096},
        {'file': 'resource-r1/log-000000007-vm1', 'size': 4096},
        {'link': 'resource-r1/version-000000005-vm1',
         'value': 'c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5,log-000000005-vm1,4096:448a741712a7ab69d4fa15aef2db1b2a,log-000000004-vm1,0'},
        {'link': 'resource-r1/version-000000007-vm1',
         'value': 'c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7c7,log-000000007-vm1,4096:c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5,log-000000005-vm1,4096'},
        {'link': 'resource-r1/replay-vm1', 'value': 'log-000000007-vm1,4096,0'},
        {'link': 'resource-r1/replay-vm2', 'value': 'log-000000007-vm1,4096,0'}])
    values = metrics(mars, 'vm2')
    assert res(values, 'mars_resource_consistent') == 1
    assert res(values, 'mars_resource_log_gap') == 1


def test_deleted_links_count_as_absent(tmp_path):
    mars, unused_now = build_tree(tmp_path, 'A07-replayed.vm2', [
        {'link': 'resource-r1/data-vm2', 'value': '.deleted'}, {'link': 'resource-r1/replay-vm2', 'value': '.deleted'}])
    values = metrics(mars, 'vm2')
    assert res(values, 'mars_resource_member') == 0
    assert ('mars_resource_lag_bytes', frozenset({('resource', 'r1')})) not in values


def test_no_cluster_yet(tmp_path):
    mars = tmp_path / 'mars'
    mars.mkdir()
    values = metrics(str(mars), 'vm9')
    assert values[('mars_up', frozenset())] == 0
    assert not [key for key in values if key[0].startswith('mars_resource_')]


def test_output_file_is_replaced_atomically(tmp_path):
    mars, unused_now = build_tree(tmp_path / 't', 'A07-replayed.vm2')
    out = tmp_path / 'textfile' / 'mars.prom'
    subprocess.run([sys.executable, METRICS, '--mars-dir', mars, '--host', 'vm2', '--output', str(out)], check=True)
    assert 'mars_resource_lag_bytes' in out.read_text()
    assert oct(out.stat().st_mode & 0o777) == '0o644'
    assert os.listdir(str(out.parent)) == ['mars.prom']


# --------------------------------------------------------- the layout the roles install

def install(directory, script):
    """What the role does on a host: the script and the reader in one directory."""
    directory.mkdir(parents=True)
    shutil.copy(script, str(directory))
    for name in READER_FILES:
        shutil.copy(os.path.join(READER_DIR, name), str(directory))
    return os.path.join(str(directory), os.path.basename(script))


def without_fs(text):
    """The samples but the free space of the file system holding the tree, which moves between runs."""
    return [line for line in text.splitlines() if not line.startswith('mars_fs_')]


def test_installed_beside_its_reader_the_script_writes_the_same_metrics(tmp_path):
    mars, unused_now = build_tree(tmp_path / 't', 'A07-after-write.vm2')
    installed = install(tmp_path / 'usr' / 'local' / 'libexec' / 'georep-mars', METRICS)
    assert without_fs(run(mars, 'vm2', script=installed)) == without_fs(run(mars, 'vm2'))
    assert not os.path.exists(os.path.join(os.path.dirname(installed), '__pycache__'))


@pytest.mark.parametrize('script', [METRICS, SPACE_CHECK], ids=['exporter', 'space-check'])
def test_without_its_reader_the_script_says_what_is_missing(tmp_path, script):
    alone = tmp_path / 'alone'
    alone.mkdir()
    shutil.copy(script, str(alone))
    done = subprocess.run([sys.executable, str(alone / os.path.basename(script)), '--mars-dir', str(tmp_path)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == (3 if script == SPACE_CHECK else 1)  # 3: the space check's "unknown"
    assert 'tree.py and state.py' in done.stderr and 'installs them there' in done.stderr


@pytest.mark.parametrize('role', ['monitoring', 'housekeeping'])
def test_the_role_ships_the_reader_and_the_reader_needs_nothing_else(role):
    """The files the role copies are in plugins/module_utils and import the stdlib only."""
    with open(os.path.join(REPO, 'roles', role, 'vars', 'main.yml')) as handle:
        variables = yaml.safe_load(handle)
    prefix = '__mars_%s_reader_' % role
    assert variables[prefix + 'files'] == READER_FILES
    assert variables[prefix + 'dir'] == '{{ role_path | dirname | dirname }}/plugins/module_utils'
    for name in READER_FILES:
        with open(os.path.join(READER_DIR, name)) as handle:
            tree = ast.parse(handle.read())
        imported = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split('.')[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                imported.add((node.module or '').split('.')[0])
        assert imported <= set(['__future__', 'os', 're']), '%s imports %s' % (name, sorted(imported))

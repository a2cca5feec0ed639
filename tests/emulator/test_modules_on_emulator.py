# -*- coding: utf-8 -*-
# Copyright: (c) 2026, georep.mars contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""End to end: the modules against two emulated MARS hosts (emulator/, real processes, real TCP).

The emulated kernels replicate the trees; the modules run in-process and call the emulated
marsadm as a subprocess, exactly with the argv they would use on a real host.  This checks
that the one-pass reader agrees with the emulator's marsadm views, and that handover and
failover work through real marsadm output.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import sys

import pytest

from ansible.module_utils import basic
from ansible_collections.georep.mars.tests.unit.plugins.modules.mars_harness import patch_module_args

from ansible_collections.georep.mars.plugins.module_utils import environment
from ansible_collections.georep.mars.plugins.modules import cluster as cluster_module
from ansible_collections.georep.mars.plugins.modules import decommission, failover, handover, info, resource

import kernel_cluster
from polling import wait_until

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
EMULATOR = os.path.join(REPO, 'emulator')

pytestmark = pytest.mark.slow
SIZE = 16 * 1024 * 1024
RUN_COMMAND = basic.AnsibleModule.run_command


class Done(Exception):
    pass


def run(module, host, args, monkeypatch, marsadm):
    env = environment.Environment
    monkeypatch.setattr(env, 'mars_dir', host.paths.mars)
    monkeypatch.setattr(env, 'proc_dir', host.paths.procsys)
    monkeypatch.setattr(env, 'hostname', lambda self: host.name)
    monkeypatch.setattr(env, 'mars_mounted', lambda self: True)
    monkeypatch.setattr(env, 'block_device_size', lambda self, path: ('block', os.path.getsize(path)))

    def run_command(self, argv, **kwargs):
        extra = dict(kwargs.get('environ_update') or {}, MARS_EMU_ROOT=host.paths.root,
                     MARS_EMU_HOSTNAME=host.name, PYTHONPATH=EMULATOR)
        kwargs['environ_update'] = extra
        return RUN_COMMAND(self, argv, **kwargs)

    def finish(self, **kwargs):
        raise Done(kwargs)

    def fail(self, **kwargs):
        kwargs['failed'] = True
        raise Done(kwargs)

    monkeypatch.setattr(basic.AnsibleModule, 'run_command', run_command)
    monkeypatch.setattr(basic.AnsibleModule, 'get_bin_path', lambda self, name, required=False, opt_dirs=None: marsadm)
    monkeypatch.setattr(basic.AnsibleModule, 'exit_json', finish)
    monkeypatch.setattr(basic.AnsibleModule, 'fail_json', fail)
    monkeypatch.setattr(basic.AnsibleModule, 'warn', lambda self, text: None)
    with patch_module_args(args):
        with pytest.raises(Done) as caught:
            module.main()
    return caught.value.args[0]


def add_resource(emu, tmp_path, res):
    """RES created on h1 (primary) and joined by h2, synced."""
    h1, h2 = emu.hosts
    disks = []
    for host in emu.hosts:
        disk = str(tmp_path / ('disk-%s-%s' % (res, host.name)))
        with open(disk, 'wb') as handle:
            handle.truncate(SIZE)
        disks.append(disk)
    h1.create_resource(res, disks[0], SIZE)
    kernel_cluster.wait_until(lambda: h1.indicator(res, 'if-on') == '1', timeout=20, what='device on h1')
    kernel_cluster.wait_until(lambda: h2.res(res, 'size'), timeout=20, what='%s on h2' % res)
    h2.join_resource(res, disks[1], h1)
    # the harness' join writes the links only; marsadm join-resource also makes this directory
    os.makedirs(h2.path('resource-%s/userspace' % res), exist_ok=True)
    kernel_cluster.wait_until(lambda: h2.res(res, 'syncstatus-h2') == str(SIZE) and h2.res(res, 'syncpos-h2'),
                              timeout=30, what='sync of %s on h2' % res)


@pytest.fixture
def cluster(tmp_path):
    """h1 primary of r1, h2 synced."""
    emu = kernel_cluster.EmuCluster(str(tmp_path), 2)
    emu.start()
    try:
        emu.form()
        add_resource(emu, tmp_path, 'r1')
        yield emu
    finally:
        emu.stop()


@pytest.fixture(name='two_resources')
def fixture_two_resources(tmp_path):
    """h1 primary of r1 and r2, h2 synced to both."""
    emu = kernel_cluster.EmuCluster(str(tmp_path), 2)
    emu.start()
    try:
        emu.form()
        add_resource(emu, tmp_path, 'r1')
        add_resource(emu, tmp_path, 'r2')
        yield emu
    finally:
        emu.stop()


@pytest.fixture
def marsadm(tmp_path):
    path = str(tmp_path / 'marsadm')
    with open(path, 'w') as handle:
        handle.write('#!/bin/sh\nexec "%s" -m marsemu.marsadm "$@"\n' % sys.executable)
    os.chmod(path, 0o755)
    return path


def wait_for_info(host, monkeypatch, marsadm, predicate, what, timeout=30):
    def reached():
        result = run(info, host, {}, monkeypatch, marsadm)
        return result if predicate(result['resources'].get('r1', {})) else None
    return wait_until(reached, timeout, what, 0.3)


def h2_alive(host, monkeypatch, marsadm):
    """Does HOST see h2 alive within the 3 s window the failovers below use?"""
    return run(info, host, {'window': 3}, monkeypatch, marsadm)['cluster']['hosts']['h2']['alive']


def test_info_handover_and_failover_against_the_emulator(cluster, monkeypatch, marsadm):
    h1, h2 = cluster.hosts
    state = wait_for_info(h2, monkeypatch, marsadm, lambda r: r.get('consistent') and r.get('replay_rest') == 0,
                          'h2 consistent')
    r1 = state['resources']['r1']
    assert r1['role'] == 'secondary' and r1['designated_primary'] == 'h1' and r1['members'] == ['h1', 'h2']
    assert state['cluster']['hosts']['h1']['alive'] and not r1['split_brain'] and state['dangers'] == []

    result = run(handover, h2, {'name': ['r1'], 'timeout': 60}, monkeypatch, marsadm)
    assert not result.get('failed'), result.get('msg')
    assert result['changed'] and result['resources']['r1']['role'] == 'primary'
    again = run(handover, h2, {'name': ['r1']}, monkeypatch, marsadm)
    assert not again.get('failed') and not again['changed']

    wait_for_info(h1, monkeypatch, marsadm, lambda r: r.get('designated_primary') == 'h2' and r.get('consistent')
                  and r.get('replay_rest') == 0 and r.get('fetch_rest') == 0, 'h1 caught up')
    refused = run(failover, h1, {'name': ['r1'], 'force': True}, monkeypatch, marsadm)
    assert refused.get('failed') and 'is still alive' in refused['msg']

    h2.cut()
    try:
        wait_until(lambda: not h2_alive(h1, monkeypatch, marsadm), 20, 'h2 to look dead to h1', 0.3)
        promoted = run(failover, h1, {'name': ['r1'], 'force': True, 'window': 3, 'timeout': 60},
                       monkeypatch, marsadm)
        assert not promoted.get('failed'), promoted.get('msg')
        assert promoted['changed'] and promoted['old_primaries'] == {'r1': 'h2'}
        assert promoted['resources']['r1']['role'] == 'primary'
    finally:
        h2.heal()

    # h2 comes back, learns about the new primary and steps down; then it is removed for good.
    wait_for_info(h2, monkeypatch, marsadm, lambda r: r.get('designated_primary') == 'h1' and not r.get('is_primary'),
                  'h2 stepped down')
    left = run(resource, h2, {'name': 'r1', 'state': 'absent', 'window': 4, 'timeout': 60}, monkeypatch, marsadm)
    assert not left.get('failed'), left.get('msg')
    assert left['changed'] and not left['resource']['member']
    assert [c['cmd'][3:] for c in left['commands']] == [['down', 'r1'], ['leave-resource', 'r1']]
    wait_for_info(h1, monkeypatch, marsadm, lambda r: r.get('members') == ['h1'], 'h2 gone from r1 on h1')
    gone = run(decommission, h1, {'host': 'h2', 'timeout': 30}, monkeypatch, marsadm)
    assert not gone.get('failed'), gone.get('msg')
    assert gone['changed'] and gone['role'] == 'survivor'
    assert [c['cmd'][3:] for c in gone['commands']] == [['lowlevel-delete-host', 'h2']]
    final = run(info, h1, {}, monkeypatch, marsadm)
    assert sorted(final['cluster']['hosts']) == ['h1']


def test_cluster_create_and_join_against_the_emulator(tmp_path, monkeypatch, marsadm):
    """create-cluster with the module unloaded, join-cluster with it loaded (kernel = emulator daemon)."""
    emu = kernel_cluster.EmuCluster(str(tmp_path), 2)
    h1, h2 = emu.hosts
    args = {'founder': 'h1', 'timeout': 30}
    created = run(cluster_module, h1, dict(args, ip=h1.ip), monkeypatch, marsadm)
    assert not created.get('failed'), created.get('msg')
    assert created['changed'] and created['cluster']['joined'] and created['cluster']['ip'] == h1.ip
    emu.start()
    try:
        rerun = run(cluster_module, h1, dict(args), monkeypatch, marsadm)
        assert not rerun.get('failed') and not rerun['changed']
        joined = run(cluster_module, h2, dict(args, ip=h2.ip, founder_ip=h1.ip), monkeypatch, marsadm)
        assert not joined.get('failed'), joined.get('msg')
        assert joined['changed'] and joined['cluster']['uuid'] == created['cluster']['uuid']
        again = run(cluster_module, h2, dict(args, ip=h2.ip, founder_ip=h1.ip), monkeypatch, marsadm)
        assert not again.get('failed') and not again['changed']
    finally:
        emu.stop()


def test_a_handover_and_a_failover_of_several_resources_are_one_marsadm_call_each(two_resources, monkeypatch, marsadm):
    h1, h2 = two_resources.hosts
    wait_until(lambda: all(run(info, h2, {'name': [r]}, monkeypatch, marsadm)['resources'][r].get('replay_rest') == 0
                           for r in ('r1', 'r2')), 30, 'h2 replayed both', 0.3)
    result = run(handover, h2, {'name': ['r2', 'r1'], 'timeout': 60}, monkeypatch, marsadm)
    assert not result.get('failed'), result.get('msg')
    assert [c['cmd'][3:] for c in result['commands'] if 'primary' in c['cmd']] == [['primary', 'r2,r1']]
    assert result['changed'] and sorted(result['switched']) == ['r1', 'r2']
    assert all(result['resources'][r]['role'] == 'primary' for r in ('r1', 'r2'))
    again = run(handover, h2, {'name': ['r1', 'r2']}, monkeypatch, marsadm)
    assert not again.get('failed') and not again['changed']
    assert not [c for c in again['commands'] if 'primary' in c['cmd']]

    wait_until(lambda: all(run(info, h1, {'name': [r]}, monkeypatch, marsadm)['resources'][r].get('replay_rest') == 0
                           for r in ('r1', 'r2')), 30, 'h1 replayed both', 0.3)
    h2.cut()
    try:
        wait_until(lambda: not h2_alive(h1, monkeypatch, marsadm), 20, 'h2 to look dead to h1', 0.3)
        promoted = run(failover, h1, {'name': ['r1', 'r2'], 'force': True, 'window': 3, 'timeout': 60},
                       monkeypatch, marsadm)
    finally:
        h2.heal()
    assert not promoted.get('failed'), promoted.get('msg')
    assert [c['cmd'][3:] for c in promoted['commands'] if '--force' in c['cmd']] == [['primary', '--force', 'r1,r2']]
    assert all(promoted['resources'][r]['role'] == 'primary' for r in ('r1', 'r2'))

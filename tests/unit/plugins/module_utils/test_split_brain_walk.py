# -*- coding: utf-8 -*-
# Copyright: (c) 2026, georep.mars contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Version-chain walk (marsadm _get_common_ancestor) across different logfile numbers."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

from ansible_collections.georep.mars.plugins.module_utils.environment import Environment
from ansible_collections.georep.mars.plugins.module_utils.state import ClusterState
from ansible_collections.georep.mars.plugins.module_utils.tree import MarsTree

D4 = '44444444444444444444444444444444'
D5A = '5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a'
D5B = '5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b'
D6A = '6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a'


def resource(links, files=()):
    lines = ['d /mars/resource-r1  1.0 4096', 'l /mars/resource-r1/size 1048576 1.0 7']
    lines += ['l /mars/resource-r1/%s %s 1.0 1' % (key, value) for key, value in links.items()]
    lines += ['f /mars/resource-r1/%s  1.0 %d' % (name, size) for name, size in files]
    tree = MarsTree.from_find_listing('\n'.join(lines))
    return ClusterState(tree, 'vm2', 100.0, 60).resource('r1')


BASE = {
    'data-vm1': '/dev/vdb', 'data-vm2': '/dev/vdb',
    'version-000000004-vm1': '%s,log-000000004-vm1,100:' % D4,
    'version-000000004-vm2': '%s,log-000000004-vm1,100:' % D4,
    'version-000000005-vm1': '%s,log-000000005-vm1,200:%s,log-000000004-vm1,100' % (D5A, D4),
    'version-000000006-vm1': '%s,log-000000006-vm1,50:%s,log-000000005-vm1,200' % (D6A, D5A),
}


def test_lagging_secondary_is_no_split_brain():
    links = dict(BASE, **{'replay-vm1': 'log-000000006-vm1,50,0', 'replay-vm2': 'log-000000004-vm1,100,0'})
    res = resource(links, [('log-000000004-vm1', 100), ('log-000000005-vm1', 200), ('log-000000006-vm1', 50)])
    assert res.split_brain_pairs() == []
    assert not res.split_brain
    # vm2 has logs 5 and 6 locally but has not replayed them; nothing left to fetch
    assert res.replay_rest('vm2') == 250
    assert res.fetch_rest('vm2') == 0


def test_lagging_secondary_still_fetching():
    links = dict(BASE, **{'replay-vm1': 'log-000000006-vm1,50,0', 'replay-vm2': 'log-000000004-vm1,100,0'})
    res = resource(links, [('log-000000004-vm1', 100), ('log-000000005-vm1', 120)])
    assert res.replay_rest('vm2') == 120
    assert res.fetch_rest('vm2') == 130


def test_diverged_histories_with_different_numbers_are_split_brain():
    links = dict(BASE, **{
        'replay-vm1': 'log-000000006-vm1,50,0',
        'replay-vm2': 'log-000000005-vm2,300,0',
        'version-000000005-vm2': '%s,log-000000005-vm2,300:%s,log-000000004-vm1,100' % (D5B, D4),
    })
    res = resource(links)
    assert res.split_brain_pairs() == [{'hosts': ['vm1', 'vm2'], 'after': None, 'traceable': True}]
    assert res.split_brain


def test_unreadable_history_counts_as_split_brain():
    links = dict(BASE, **{'replay-vm1': 'log-000000009-vm1,50,0', 'replay-vm2': 'log-000000004-vm1,100,0'})
    res = resource(links)
    assert res.split_brain_pairs() == [{'hosts': ['vm1', 'vm2'], 'after': None, 'traceable': False}]


def test_missing_version_link_falls_back_to_previous_number():
    links = dict(BASE, **{'replay-vm1': 'log-000000007-vm1,10,0', 'replay-vm2': 'log-000000006-vm1,50,0',
                          'version-000000006-vm2': '%s,log-000000006-vm1,50:%s,log-000000005-vm1,200' % (D6A, D5A)})
    res = resource(links)
    assert res.split_brain_pairs() == []


def test_same_position_with_different_version_digests_is_split_brain():
    links = dict(BASE, **{'replay-vm1': 'log-000000005-vm1,200,0', 'replay-vm2': 'log-000000005-vm2,200,0',
                          'version-000000005-vm2': '%s,log-000000005-vm2,200:%s,log-000000004-vm1,100' % (D5B, D4)})
    assert resource(links).split_brain


def test_orphan_and_consistency_edges():
    links = dict(BASE, **{'replay-vm2': 'log-000000005-vm1,300,0', 'syncstatus-vm2': '1048576',
                          'syncpos-vm2': 'log-000000006-vm1,0,0'})
    res = resource(links, [('log-000000005-vm1', 200)])
    assert res.orphan('vm2')
    assert not res.consistent('vm2')          # replay has not reached syncpos
    assert res.consistent('vm2', almost=True) is False
    assert not res.consistent('vm3')          # no replay link at all


def test_primary_with_unapplied_writes_is_not_consistent():
    links = dict(BASE, **{'replay-vm2': 'log-000000006-vm1,50,10', 'syncstatus-vm2': '1048576',
                          'actual-vm2/is-primary': '1'})
    lines = ['d /mars/resource-r1  1.0 4096', 'd /mars/resource-r1/actual-vm2  1.0 4096',
             'l /mars/resource-r1/size 1048576 1.0 7']
    lines += ['l /mars/resource-r1/%s %s 1.0 1' % (key, value) for key, value in links.items()]
    res = ClusterState(MarsTree.from_find_listing('\n'.join(lines)), 'vm2', 100.0, 60).resource('r1')
    assert not res.consistent('vm2')
    assert res.consistent('vm2', almost=True)
    assert not res.orphan('vm2')


def test_environment_reads_the_host(tmp_path):
    env = Environment()
    env.proc_dir = str(tmp_path / 'proc')
    env.mars_dir = str(tmp_path / 'mars')
    assert not env.module_loaded()
    assert env.kernel_version() is None
    assert env.now() > 1e9
    os.makedirs(env.proc_dir)
    (tmp_path / 'proc' / 'lamport_clock').write_text(u'CURRENT_TIME=1.0\nlamport_now=1795628853.694864455\n')
    (tmp_path / 'proc' / 'version').write_text(u'mars0.1astable177 production\n')
    assert env.module_loaded()
    assert env.now() == 1795628853.694864455
    assert env.kernel_version() == 'mars0.1astable177 production'
    (tmp_path / 'disk.img').write_text(u'x')
    assert env.block_device_size(str(tmp_path / 'disk.img')) == ('not_block', None)
    assert env.block_device_size(str(tmp_path / 'nothing')) == ('missing', None)
    assert env.read_tree().children == {'': {}}
    assert env.hostname() and '.' not in env.hostname()
    assert not env.mars_mounted()
    env.sleep(0)
    assert env.clock() > 0


def test_same_device_follows_symlinks(tmp_path):
    env = Environment()
    target = tmp_path / 'dm-3'
    target.write_text(u'')
    link = tmp_path / 'vg0-r1'
    os.symlink(str(target), str(link))
    assert env.same_device(str(link), str(target))
    assert env.same_device('/dev/vdb', '/dev/vdb')
    assert not env.same_device('/dev/vdb', '/dev/vdc')
    assert not env.same_device(None, '/dev/vdb')

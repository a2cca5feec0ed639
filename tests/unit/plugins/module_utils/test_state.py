# -*- coding: utf-8 -*-
# Copyright: (c) 2026, georep.mars contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The one-pass tree reader must answer like marsadm's view-* macros.

Each recorded snapshot (traces/real-mars-A) holds the /mars tree and, taken right
after it, the output of the real marsadm 2.9 view primitives on the same host.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import glob
import os

import pytest
import yaml

from ansible_collections.georep.mars.plugins.module_utils.state import (
    ClusterState, compare_replay_links, parse_replay_link, to_int)
from ansible_collections.georep.mars.plugins.module_utils.tree import MarsTree
from ansible_collections.georep.mars.plugins.module_utils.runner import MarsadmResult

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'fixtures')
# Snapshots where the state moved between the tree capture and the views (sync or
# fetch running), or where the resource did not exist yet (views fail with rc 0 + FAILURE).
MOVING = ('A05-after.vm2', 'A07-after-write.vm2')


def snapshots():
    for path in sorted(glob.glob(os.path.join(FIXTURES, 'views', '*.yml'))):
        name = os.path.basename(path)[:-4]
        with open(path) as handle:
            data = yaml.safe_load(handle)
        if name in MOVING or any('FAILURE' in view['stdout'] for view in data['views'].values()):
            continue
        yield pytest.param(name, data, id=name)


def flag(value):
    return '1' if value else '0'


@pytest.mark.parametrize('name,data', list(snapshots()))
def test_tree_answers_like_marsadm_views(name, data):
    with open(os.path.join(FIXTURES, 'trees', name + '.tree')) as handle:
        tree = MarsTree.from_find_listing(handle.read())
    host = data['host']
    res = ClusterState(tree, host, data['date'], 60).resource('r1')
    mine = {
        'view-is-member': flag(res.is_member(host)),
        'view-get-primary': res.designated_primary or '',
        'view-is-primary': (res.actual(host, 'is-primary') or ''),
        'view-is-consistent': flag(res.consistent(host)),
        'view-sync-rest': str(res.sync_rest(host)),
        'view-fetch-rest': str(res.fetch_rest(host)),
        'view-replay-rest': str(res.replay_rest(host)),
        'view-is-split-brain': flag(res.split_brain),
        'view-device-present': flag(res.device_present(host)),
        'view-is-alive': flag(res.alive(res.designated_primary or host)),
    }
    real = dict((key, data['views'][key]['stdout'].strip()) for key in mine)
    assert mine == real


def test_reader_on_disk_matches_listing(tmp_path):
    """MarsTree.read (the walk used on targets) sees what the listing describes."""
    with open(os.path.join(FIXTURES, 'trees', 'A09-after.vm2.tree')) as handle:
        text = handle.read()
    root = tmp_path / 'mars'
    for line in text.splitlines():
        fields = line.split(' ')
        if fields[0] not in ('d', 'l', 'f'):
            continue
        rel = fields[1][len('/mars'):].lstrip('/')
        path = os.path.join(str(root), rel)
        if fields[0] == 'd':
            os.makedirs(path, exist_ok=True)
        elif fields[0] == 'l':
            os.makedirs(os.path.dirname(path), exist_ok=True)
            os.symlink(' '.join(fields[2:-2]), path)
            os.utime(path, (float(fields[-2]),) * 2, follow_symlinks=False)
        else:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, 'wb') as out:
                out.truncate(int(fields[-1]))
            os.utime(path, (float(fields[-2]),) * 2)
    os.symlink('x', os.path.join(str(root), 'resource-r1', '.tmp.123.primary'))
    (root / 'cache-vm2' / 'junk').write_text(u'x')
    disk = MarsTree.read(str(root))
    listed = MarsTree.from_find_listing(text)
    assert disk.children == listed.children
    assert disk.get('resource-r1/primary') == 'vm2'
    assert disk.get('resource-r1/.tmp.123.primary') is None
    assert disk.file_size('resource-r1/log-000000001-vm1') == 17121280
    assert disk.get('resource-r1/log-000000001-vm1') is None


def test_deleted_links_are_absent():
    tree = MarsTree.from_find_listing(
        'l /mars/resource-r1/data-vm2 .deleted 1.0 8\nl /mars/resource-r1/size 4096 1.0 4\nd /mars/resource-r1  1.0 4096\n')
    assert tree.get('resource-r1/data-vm2') is None
    assert tree.stamp('resource-r1/data-vm2') is None
    assert tree.links('resource-r1') == {'size': '4096'}
    assert tree.resource_names() == ['r1']


def test_small_parsers():
    assert parse_replay_link('log-000000004-vm1,17121280,2052') == (4, 'vm1', 17121280, 2052)
    assert parse_replay_link('garbage') is None
    assert compare_replay_links('log-000000002-vm1,0,0', 'log-000000001-vm1,99,0') == 1
    assert compare_replay_links('log-000000001-vm1,5,0', 'log-000000001-vm2,5,9') == 0
    assert to_int('') == 0 and to_int('12\n') == 12 and to_int(None, None) is None


def test_marsadm_result_failure_detection():
    ok = MarsadmResult(['marsadm', 'primary', 'r1'], 0, 'done\n', "WARNING: Condition 'x' not reached\n")
    assert not ok.failed and ok.warnings == ["Condition 'x' not reached"]
    dying = MarsadmResult(['marsadm', 'x'], 0, '', 'DYING: resource \'r1\' does not exist\n')
    assert dying.failed and dying.reason() == "resource 'r1' does not exist"
    failure = MarsadmResult(['marsadm', 'x'], 0, "FAILURE cmd='x' res='r1'\n", '')
    assert failure.failed
    assert MarsadmResult(['m'], 1, '', '').reason() == 'no output'

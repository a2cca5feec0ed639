# -*- coding: utf-8 -*-
# Copyright: (c) 2026, georep.mars contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Helpers for the tests of the scripts the roles install on the hosts.

The exporter (roles/monitoring) and the /mars fill check (roles/housekeeping) read /mars with the
modules' reader, plugins/module_utils/tree.py and state.py, which the roles install beside them.
The tests rebuild the recorded trees of the real module (tests/unit/plugins/fixtures/trees) with
the module tests' harness, so scripts and modules see the very same files.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import glob
import importlib.util
import os
import re

from ansible_collections.georep.mars.tests.unit.plugins.modules.mars_harness import Lab

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
METRICS = os.path.join(REPO, 'roles', 'monitoring', 'files', 'georep-mars-metrics.py')
SPACE_CHECK = os.path.join(REPO, 'roles', 'housekeeping', 'files', 'georep-mars-space-check.py')
READER_DIR = os.path.join(REPO, 'plugins', 'module_utils')
TREES_DIR = os.path.join(REPO, 'tests', 'unit', 'plugins', 'fixtures', 'trees')
SAMPLE_RE = re.compile(r'^([a-z_]+)(\{[^}]*\})? (-?[0-9.e+]+)$')


def recorded_trees():
    """Names of the recorded trees (``A07-after-write.vm2``); the host is the last part."""
    return sorted(os.path.basename(path)[:-len('.tree')] for path in glob.glob(os.path.join(TREES_DIR, '*.tree')))


def load_script(path, name):
    """Import a role's script as a module (it finds the reader in plugins/module_utils)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_tree(root, tree, patches=None, host='vm1'):
    """Rebuild a recorded tree (plus patches) under ROOT/mars: (mars dir, the snapshot's time + 1 s)."""
    lab = Lab(root, {'tree': tree, 'tree_patch': patches or [], 'host': host})
    return os.path.join(str(root), 'mars'), lab.now_value


def parse_metrics(text, host):
    """{(name, frozenset(labels without host)): value} of the Prometheus text format."""
    result = {}
    for line in text.splitlines():
        if line.startswith('#'):
            assert re.match(r'^# (HELP|TYPE) [a-z_]+ .+$', line), line
            continue
        match = SAMPLE_RE.match(line)
        assert match, 'not Prometheus text format: %r' % line
        labels = dict(re.findall(r'([a-z_]+)="([^"]*)"', match.group(2) or ''))
        assert labels.pop('host') == host
        result[(match.group(1), frozenset(labels.items()))] = float(match.group(3))
    return result

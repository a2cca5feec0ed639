# -*- coding: utf-8 -*-
# Copyright: (c) 2026, georep.mars contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Harness for the data-driven module tests (imported by conftest.py and the tests).

A case (YAML) names a recorded /mars tree (tests/unit/plugins/fixtures/trees,
copied from the real-MARS traces), optional patches to it, the module input,
the exact marsadm/modprobe argv lists the module must run with their recorded
rc/stdout/stderr and the tree that exists afterwards, and the expected result.
The tree is materialised as real symlinks with their Lamport mtimes in a
temporary directory, so the one-pass reader is exercised for real.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import shutil

import pytest
import yaml

from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes

try:
    from ansible.module_utils.testing import patch_module_args  # ansible-core >= 2.19
except ImportError:
    import contextlib

    @contextlib.contextmanager
    def patch_module_args(args):
        """ansible-core 2.18: modules read their arguments from basic._ANSIBLE_ARGS."""
        saved = basic._ANSIBLE_ARGS
        basic._ANSIBLE_ARGS = to_bytes(json.dumps({'ANSIBLE_MODULE_ARGS': args}))
        try:
            yield
        finally:
            basic._ANSIBLE_ARGS = saved

from ansible_collections.georep.mars.plugins.module_utils import environment

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, '..', 'fixtures')


class ExitJson(Exception):
    pass


class FailJson(Exception):
    pass


def load_cases(name):
    with open(os.path.join(HERE, name)) as handle:
        cases = yaml.safe_load(handle)
    return pytest.mark.parametrize('case', cases, ids=[case['id'] for case in cases])


def _snap_date(text):
    first = text.splitlines()[0] if text else ''
    if first.startswith('=== SNAP'):
        for field in first.split():
            if field.startswith('date='):
                return float(field[5:])
    return None


class Lab(object):
    """The fake host: a materialised /mars, a clock, block devices, expected commands."""

    def __init__(self, root, case):
        self.root = str(root)
        self.case = case
        self.host = case.get('host', 'vm1')
        self.module_loaded = case.get('module_loaded', True)
        self.mounted = case.get('mounted', True)
        self.devices = case.get('devices', {'/dev/vdb': 268435456})
        self.calls = list(case.get('calls', []))
        self.sleeps = list(case.get('sleeps', []))
        self.ran = []
        self.reads = 0
        self.warnings = []
        self.clock_value = 1000.0
        self.now_value = None
        self.load(case.get('tree'), case.get('tree_patch'))
        if case.get('now') is not None:
            self.now_value = float(case['now'])

    # ------------------------------------------------------------ the tree
    def load(self, name, patches=None):
        mars = os.path.join(self.root, 'mars')
        if name is not None:
            if os.path.exists(mars):
                shutil.rmtree(mars)
            os.makedirs(mars)
            text = ''
            if name != 'empty':
                with open(os.path.join(FIXTURES, 'trees', name + '.tree')) as handle:
                    text = handle.read()
            date = _snap_date(text)
            if date is not None:
                self.now_value = date + 1
            elif self.now_value is None:
                self.now_value = 1795628600.0
            for line in text.splitlines():
                fields = line.split(' ')
                if len(fields) < 4 or fields[0] not in ('d', 'l', 'f') or not fields[1].startswith('/mars'):
                    continue
                rel = fields[1][len('/mars'):].lstrip('/')
                self._create(fields[0], rel, ' '.join(fields[2:-2]), float(fields[-2]), int(fields[-1]))
        for patch in patches or []:
            self._patch(patch)

    def _create(self, kind, rel, value, mtime, size):
        path = os.path.join(self.root, 'mars', rel) if rel else os.path.join(self.root, 'mars')
        if kind == 'd':
            if not os.path.isdir(path):
                os.makedirs(path)
            return
        parent = os.path.dirname(path)
        if not os.path.isdir(parent):
            os.makedirs(parent)
        if os.path.lexists(path):
            os.remove(path)
        if kind == 'l':
            os.symlink(value, path)
        else:
            with open(path, 'wb') as handle:
                handle.truncate(size)
        os.utime(path, (mtime, mtime), follow_symlinks=False)

    def _patch(self, patch):
        mtime = float(patch.get('mtime', self.now_value if self.now_value else 1795628600.0))
        if 'link' in patch:
            self._create('l', patch['link'], str(patch['value']), mtime, 0)
        elif 'file' in patch:
            self._create('f', patch['file'], '', mtime, int(patch.get('size', 0)))
        elif 'dir' in patch:
            self._create('d', patch['dir'], '', mtime, 0)
        elif 'remove' in patch:
            path = os.path.join(self.root, 'mars', patch['remove'])
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            elif os.path.lexists(path):
                os.remove(path)
        else:
            raise AssertionError('unknown patch %r' % (patch,))

    def apply(self, step):
        if 'tree' in step or 'tree_patch' in step:
            self.load(step.get('tree'), step.get('tree_patch'))
        if 'module_loaded' in step:
            self.module_loaded = step['module_loaded']
        if 'now' in step:
            self.now_value = float(step['now'])

    # --------------------------------------------------------- environment
    def sleep(self, seconds):
        self.clock_value += seconds
        self.now_value += seconds
        if self.sleeps:
            self.apply(self.sleeps.pop(0))

    def block_device_size(self, path):
        if path not in self.devices:
            return 'missing', None
        size = self.devices[path]
        if size == 'file':
            return 'not_block', None
        return 'block', int(size)

    # ------------------------------------------------------------- commands
    def run_command(self, args, **kwargs):
        self.ran.append(list(args))
        assert self.calls, 'unexpected command %r' % (args,)
        call = self.calls.pop(0)
        assert list(args) == call['command'], 'expected %r, got %r' % (call['command'], list(args))
        if os.path.basename(args[0]) == 'marsadm':
            assert kwargs.get('environ_update', {}).get('LANG') == 'C'
            assert kwargs.get('cwd') == '/'
        self.apply(call)
        return call.get('rc', 0), call.get('out', ''), call.get('err', '')


@pytest.fixture
def lab_factory(tmp_path, monkeypatch):
    def make(case):
        lab = Lab(tmp_path, case)
        env = environment.Environment
        monkeypatch.setattr(env, 'mars_dir', os.path.join(lab.root, 'mars'))
        monkeypatch.setattr(env, 'proc_dir', os.path.join(lab.root, 'proc-sys-mars'))
        monkeypatch.setattr(env, 'hostname', lambda self: lab.host)
        monkeypatch.setattr(env, 'module_loaded', lambda self: lab.module_loaded)
        monkeypatch.setattr(env, 'mars_mounted', lambda self: lab.mounted)
        monkeypatch.setattr(env, 'now', lambda self: lab.now_value)
        monkeypatch.setattr(env, 'kernel_version', lambda self: 'mars0.1astable177 production' if lab.module_loaded else None)
        monkeypatch.setattr(env, 'clock', lambda self: lab.clock_value)
        monkeypatch.setattr(env, 'sleep', lambda self, seconds: lab.sleep(seconds))
        monkeypatch.setattr(env, 'block_device_size', lambda self, path: lab.block_device_size(path))
        read_tree = env.read_tree

        def counted_read_tree(self):
            lab.reads += 1
            return read_tree(self)

        monkeypatch.setattr(env, 'read_tree', counted_read_tree)

        bins = dict(case.get('bins', {'marsadm': '/usr/sbin/marsadm', 'modprobe': '/usr/sbin/modprobe'}))

        # Ansible searches opt_dirs before PATH: a case can say what a lookup with opt_dirs finds.
        bins_opt_dirs = dict(bins, **case.get('bins_opt_dirs', {}))

        def get_bin_path(self, name, required=False, opt_dirs=None):
            return (bins_opt_dirs if opt_dirs else bins).get(name)

        def run_command(self, args, **kwargs):
            return lab.run_command(args, **kwargs)

        def exit_json(self, **kwargs):
            raise ExitJson(kwargs)

        def fail_json(self, **kwargs):
            kwargs['failed'] = True
            raise FailJson(kwargs)

        def warn(self, text):
            lab.warnings.append(text)

        monkeypatch.setattr(basic.AnsibleModule, 'warn', warn)
        monkeypatch.setattr(basic.AnsibleModule, 'get_bin_path', get_bin_path)
        monkeypatch.setattr(basic.AnsibleModule, 'run_command', run_command)
        monkeypatch.setattr(basic.AnsibleModule, 'exit_json', exit_json)
        monkeypatch.setattr(basic.AnsibleModule, 'fail_json', fail_json)
        return lab
    return make


def _match(expected, actual, where):
    if isinstance(expected, dict):
        assert isinstance(actual, dict), '%s: expected a dict, got %r' % (where, actual)
        for key, value in expected.items():
            assert key in actual, '%s: missing key %r in %r' % (where, key, sorted(actual))
            _match(value, actual[key], '%s.%s' % (where, key))
    elif isinstance(expected, list) and any(isinstance(item, dict) for item in expected):
        assert isinstance(actual, list) and len(actual) == len(expected), '%s: expected %r, got %r' % (where, expected, actual)
        for index, (want, have) in enumerate(zip(expected, actual)):
            _match(want, have, '%s[%d]' % (where, index))
    else:
        assert expected == actual, '%s: expected %r, got %r' % (where, expected, actual)


@pytest.fixture
def run_case(lab_factory):
    """Run ``module.main()`` for a case and check every expectation."""
    def run(module, case):
        lab = lab_factory(case)
        args = dict(case.get('input', {}))
        if case.get('check_mode'):
            args['_ansible_check_mode'] = True
        if case.get('diff'):
            args['_ansible_diff'] = True
        with patch_module_args(args):
            with pytest.raises((ExitJson, FailJson)) as caught:
                module.main()
        result = caught.value.args[0]
        expect = case.get('expect', {})
        failed = bool(result.get('failed'))
        assert failed == expect.get('failed', False), json.dumps(result, indent=1, default=str)[:4000]
        if 'changed' in expect:
            assert result.get('changed') == expect['changed'], json.dumps(result, indent=1, default=str)[:4000]
        if 'msg' in expect:
            assert result.get('msg') == expect['msg'], result.get('msg')
        for fragment in expect.get('msg_contains', []):
            assert fragment in result.get('msg', ''), result.get('msg')
        if 'reads' in expect:
            assert lab.reads == expect['reads'], 'read /mars %d times, expected %d' % (lab.reads, expect['reads'])
        if 'warnings' in expect:
            assert lab.warnings == expect['warnings'], lab.warnings
        if 'result' in expect:
            _match(expect['result'], result, 'result')
        assert not lab.calls, 'commands not run: %r (ran %r)' % ([c['command'] for c in lab.calls], lab.ran)
        if case.get('check_mode'):
            assert not lab.ran, 'check mode ran %r' % lab.ran
        return result, lab
    return run

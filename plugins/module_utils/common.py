# -*- coding: utf-8 -*-
# Copyright: (c) 2026, georep.mars contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Shared plumbing of the georep.mars modules.

* :class:`Environment`: everything a module learns from the host besides the
  tree (hostname, clock, module loaded, block devices).  Unit tests replace it.
* :func:`marsadm_argument_spec`: the common options (``marsadm_path``,
  ``timeout``, ``window``), documented once in the ``georep.mars.marsadm``
  doc fragment.
* :class:`MarsContext`: read state, run marsadm, wait with an injectable clock,
  fail with the commands that already ran.

The input rules (names, addresses, sizes) live in ``validate.py``.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import stat
import time

from ansible_collections.georep.mars.plugins.module_utils.runner import (
    MARSADM_ENV, MarsadmError, MarsadmResult, MarsadmRunner, find_marsadm)
from ansible_collections.georep.mars.plugins.module_utils.state import ClusterState
from ansible_collections.georep.mars.plugins.module_utils.tree import MarsTree
from ansible_collections.georep.mars.plugins.module_utils.validate import resource_name_error


def marsadm_argument_spec():
    """Options shared by every module that runs marsadm (doc fragment georep.mars.marsadm)."""
    return dict(
        marsadm_path=dict(type='str'),
        timeout=dict(type='int', default=600),
        window=dict(type='int', default=60),
    )


class Environment(object):
    """The host around the tree.  One instance per module run."""

    mars_dir = '/mars'
    proc_dir = '/proc/sys/mars'

    def hostname(self):
        """The node name marsadm uses (``uname -n``, short form)."""
        return os.uname()[1].split('.')[0]

    def module_loaded(self):
        """marsadm's is_module_loaded(): ``/proc/sys/mars`` exists."""
        return os.path.isdir(self.proc_dir)

    def mars_mounted(self):
        return os.path.ismount(self.mars_dir)

    def now(self):
        """marsadm's mars_time(): the kernel Lamport clock, else the system clock."""
        try:
            with open(os.path.join(self.proc_dir, 'lamport_clock')) as handle:
                for line in handle:
                    if line.startswith('lamport_now='):
                        return float(line.split('=', 1)[1].strip())
        except (IOError, OSError, ValueError):
            pass
        return time.time()

    def kernel_version(self):
        try:
            with open(os.path.join(self.proc_dir, 'version')) as handle:
                return handle.read().strip() or None
        except (IOError, OSError):
            return None

    def clock(self):
        return time.time()

    def sleep(self, seconds):
        time.sleep(seconds)

    def read_tree(self):
        return MarsTree.read(self.mars_dir)

    def same_device(self, first, second):
        """Two paths name the same device (e.g. /dev/vg0/r1 and /dev/mapper/vg0-r1)."""
        if first == second:
            return True
        if not first or not second:
            return False
        return os.path.realpath(first) == os.path.realpath(second)

    def block_device_size(self, path):
        """(kind, size) of PATH: kind is 'missing', 'not_block' or 'block'."""
        try:
            info = os.stat(path)
        except OSError:
            return 'missing', None
        if not stat.S_ISBLK(info.st_mode):
            return 'not_block', None
        try:
            handle = os.open(path, os.O_RDONLY)
            try:
                return 'block', os.lseek(handle, 0, os.SEEK_END)
            finally:
                os.close(handle)
        except OSError:
            return 'block', None


class MarsContext(object):
    """Read state, run marsadm, wait; the shell every module is built around."""

    def __init__(self, module, need_marsadm=True):
        self.module = module
        self.env = Environment()
        self.host = self.env.hostname()
        self.window = module.params.get('window') or 60
        self.timeout = module.params.get('timeout')
        if self.timeout is None:
            self.timeout = 600
        self.runner = None
        if need_marsadm:
            path = find_marsadm(module, module.params.get('marsadm_path'))
            self.runner = MarsadmRunner(module, path, self.timeout, self.window, self.host)
        self.warnings = []
        self.planned = []
        self.results = self.runner.results if self.runner else []

    @property
    def check_mode(self):
        return self.module.check_mode

    def state(self):
        """A fresh ClusterState from one walk of /mars."""
        return ClusterState(self.env.read_tree(), self.host, self.env.now(), self.window,
                            self.env.module_loaded(), self.env.kernel_version())

    @property
    def commands(self):
        return [result.as_dict() for result in self.results]

    def fail(self, msg, **kwargs):
        kwargs.setdefault('commands', self.commands)
        self.module.fail_json(msg=msg, **kwargs)

    def marsadm(self, args, timeout=None):
        """Run a mutating marsadm command; fail the module with marsadm's reason on error."""
        try:
            return self.runner.run(args, timeout=timeout)
        except MarsadmError as exc:
            self.fail(str(exc), marsadm=exc.result.as_dict())

    def act(self, args, timeout=None):
        """A planned marsadm change: recorded always, run only outside check mode."""
        self.planned.append(self.runner.argv(args, timeout))
        if self.check_mode:
            return None
        return self.marsadm(args, timeout)

    def act_command(self, argv):
        """A planned change by another tool (modprobe): recorded always, run only outside check mode."""
        self.planned.append(list(argv))
        if self.check_mode:
            return None
        rc, out, err = self.module.run_command(list(argv), environ_update=MARSADM_ENV, check_rc=False)
        result = MarsadmResult(argv, rc, out, err)
        self.results.append(result)
        if rc != 0:
            self.fail("'%s' failed on %s (rc %s): %s" % (' '.join(argv), self.host, rc, result.reason()))
        return result

    def exit(self, changed, before=None, after=None, **kwargs):
        """Finish: changed, the diff (before/after) in diff mode, commands run and planned."""
        result = dict(changed=changed, commands=self.commands, commands_planned=self.planned, **kwargs)
        if self.module._diff and before is not None:
            result['diff'] = {'before': before, 'after': after}
        self.module.exit_json(**result)

    def warn(self, text):
        self.warnings.append(text)
        self.module.warn(text)

    def view(self, macro, resource):
        try:
            return self.runner.view(macro, resource)
        except MarsadmError as exc:
            self.fail(str(exc), marsadm=exc.result.as_dict())

    def wait_for(self, predicate, timeout, interval=2):
        """Re-read the tree until ``predicate(state)`` holds; return (state, reached)."""
        start = self.env.clock()
        while True:
            current = self.state()
            if predicate(current):
                return current, True
            if self.env.clock() - start >= timeout:
                return current, False
            self.env.sleep(interval)

    def require_cluster(self, current):
        if not self.env.mars_mounted():
            self.fail("%s is not a mounted filesystem on %s; create and mount it first (georep.mars storage "
                      "role)." % ('/mars', self.host))
        if not current.joined:
            self.fail("host %s is not a member of a MARS cluster (no %s/uuid or ips/ip-%s); run "
                      "georep.mars.cluster with state=present first." % (self.host, '/mars', self.host))

    def require_module_loaded(self, current, what):
        if not current.module_loaded:
            self.fail("the mars kernel module is not loaded on %s, but %s needs it; run 'modprobe mars' "
                      "(georep.mars.cluster does this) and retry." % (self.host, what))

    def require_resource(self, current, name):
        reason = resource_name_error(name)
        if reason:
            self.fail(reason + '.')
        res = current.resource(name)
        if not res.exists:
            known = ', '.join(current.resource_names()) or 'none'
            self.fail("unknown resource '%s' on %s (known resources: %s); check the name or create it with "
                      "georep.mars.resource." % (name, self.host, known))
        return res

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, georep.mars contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

""":class:`MarsContext`, the shell every module is built around: read state,
refuse with one sentence, plan and (outside check mode) run changes through
:meth:`MarsContext.act`, wait with an injectable clock, finish with the diff
and every command that ran or was planned.

The host is read through ``environment.py``, marsadm runs through
``runner.py``, the input rules live in ``validate.py``.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.georep.mars.plugins.module_utils.environment import Environment
from ansible_collections.georep.mars.plugins.module_utils.runner import (
    MarsadmError, MarsadmRunner, find_marsadm)
from ansible_collections.georep.mars.plugins.module_utils.state import ClusterState
from ansible_collections.georep.mars.plugins.module_utils.tree import MARS_DIR
from ansible_collections.georep.mars.plugins.module_utils.validate import resource_name_error


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

    def check_input(self, problems):
        """Refuse with every input problem in one sentence; ``None`` entries mean "fine"."""
        problems = [problem for problem in problems if problem]
        if problems:
            self.fail('; '.join(problems) + '.')

    # ---------------------------------------------------------------- changes
    def act(self, args, timeout=None, already_done=None):
        """A planned marsadm change: recorded always, run only outside check mode.

        ``already_done`` is asked when marsadm fails: when it answers true, someone
        else made the change first, so the command is not a change of this run
        (dropped from ``commands_planned``) and the module goes on.
        """
        argv = self.runner.argv(args, timeout)
        self.planned.append(argv)
        if self.check_mode:
            return None
        try:
            return self.runner.run(args, timeout=timeout)
        except MarsadmError as exc:
            if already_done is not None and already_done():
                self.planned.remove(argv)
                return exc.result
            self.fail(str(exc), marsadm=exc.result.as_dict())

    def act_all(self, plan):
        """``act`` for each argument list of PLAN, in order."""
        for args in plan:
            self.act(args)

    def exit(self, changed, before=None, after=None, **kwargs):
        """Finish: changed, the diff (before/after) in diff mode, commands run and planned."""
        result = dict(changed=changed, commands=self.commands, commands_planned=self.planned, **kwargs)
        if self.module._diff and before is not None:
            result['diff'] = {'before': before, 'after': after}
        self.module.exit_json(**result)

    def warn(self, text):
        self.module.warn(text)

    def view(self, macro, resource):
        try:
            return self.runner.view(macro, resource)
        except MarsadmError as exc:
            self.fail(str(exc), marsadm=exc.result.as_dict())

    def wait_for(self, predicate, timeout, interval=0.5):
        """Re-read the tree until ``predicate(state)`` holds; return (state, reached). One read of
        /mars costs milliseconds, so a short interval spares each wait most of a tree update's period."""
        start = self.env.clock()
        while True:
            current = self.state()
            if predicate(current):
                return current, True
            if self.env.clock() - start >= timeout:
                return current, False
            self.env.sleep(interval)

    # ----------------------------------------------------------- preconditions
    def require_mounted(self):
        if not self.env.mars_mounted():
            self.fail("%s is not a mounted filesystem on %s; create and mount it first (georep.mars storage "
                      "role)." % (MARS_DIR, self.host))

    def require_cluster(self, current):
        self.require_mounted()
        if not current.joined:
            self.fail("host %s is not a member of a MARS cluster (no %s/uuid or ips/ip-%s); run "
                      "georep.mars.cluster with state=present first." % (self.host, MARS_DIR, self.host))

    def require_module_loaded(self, current, what):
        if not current.module_loaded:
            self.fail("the mars kernel module is not loaded on %s, but %s needs it; run 'modprobe mars' "
                      "(georep.mars.cluster does this) and retry." % (self.host, what))

    def require_resource(self, current, name):
        self.check_input([resource_name_error(name)])
        res = current.resource(name)
        if not res.exists:
            known = ', '.join(current.resource_names()) or 'none'
            self.fail("unknown resource '%s' on %s (known resources: %s); check the name or create it with "
                      "georep.mars.resource." % (name, self.host, known))
        return res

    def joined_state(self, names=()):
        """The state of a host that must be a cluster member and know every resource of NAMES."""
        current = self.state()
        self.require_cluster(current)
        for name in names:
            self.require_resource(current, name)
        return current

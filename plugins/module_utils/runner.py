# -*- coding: utf-8 -*-
# Copyright: (c) 2026, georep.mars contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The one place that runs ``marsadm``.

argv lists only (no shell), ``LANG=C``/``LC_ALL=C`` so that texts are stable,
cwd ``/`` because marsadm looks for ``*.tpl`` macros and ``hook-*`` scripts in
the current directory first, ``--timeout``/``--window`` on every call.  A run
counts as failed when rc is non-zero *or* marsadm printed ``DYING:`` /
``FAILURE cmd=`` (marsadm's rc is its error count, and some failures are
reported with rc 0).  Postconditions are the caller's job: a timed-out LOOP
phase exits 0.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

MARSADM_ENV = {'LANG': 'C', 'LC_ALL': 'C', 'LANGUAGE': 'C'}
MARSADM_SEARCH_PATHS = ['/usr/local/sbin', '/usr/sbin', '/sbin', '/usr/local/bin', '/usr/bin']


class MarsadmResult(object):
    def __init__(self, argv, rc, stdout, stderr):
        self.argv = list(argv)
        self.rc = rc
        self.stdout = stdout or ''
        self.stderr = stderr or ''

    @property
    def dying(self):
        """The ``DYING:`` texts of marsadm (its fatal errors), in order."""
        return [line.split('DYING:', 1)[1].strip() for line in self.stderr.splitlines() if 'DYING:' in line]

    @property
    def failed(self):
        return self.rc != 0 or bool(self.dying) or 'FAILURE cmd=' in self.stdout

    @property
    def warnings(self):
        return [line.split('WARNING:', 1)[1].strip() for line in self.stderr.splitlines() if 'WARNING:' in line]

    def reason(self):
        """The most useful one-line reason for a failure."""
        if self.dying:
            return ' '.join(self.dying)
        lines = [line.strip() for line in self.stderr.splitlines() if line.strip()]
        if lines:
            return lines[-1]
        lines = [line.strip() for line in self.stdout.splitlines() if line.strip()]
        return lines[-1] if lines else 'no output'

    def as_dict(self):
        return {'cmd': self.argv, 'rc': self.rc, 'stdout': self.stdout, 'stderr': self.stderr}


class MarsadmError(Exception):
    def __init__(self, result, host=None):
        self.result = result
        where = ' on %s' % host if host else ''
        command = ' '.join(result.argv[1:])
        super(MarsadmError, self).__init__(
            "'marsadm %s' failed%s (rc %s): %s" % (command, where, result.rc, result.reason()))


class MarsadmRunner(object):
    """Builds and runs marsadm argv lists through ``module.run_command``."""

    def __init__(self, module, path, timeout=600, window=60, host=None):
        self.module = module
        self.path = path
        self.timeout = timeout
        self.window = window
        self.host = host
        self.results = []

    def argv(self, args, timeout=None):
        command = [self.path, '--timeout=%d' % (self.timeout if timeout is None else timeout),
                   '--window=%d' % self.window]
        return command + [str(arg) for arg in args]

    def run(self, args, timeout=None, check=True):
        """Run ``marsadm <args>``; raise MarsadmError when it failed and ``check``."""
        argv = self.argv(args, timeout)
        rc, out, err = self.module.run_command(argv, environ_update=MARSADM_ENV, cwd='/', check_rc=False)
        result = MarsadmResult(argv, rc, out, err)
        self.results.append(result)
        if check and result.failed:
            raise MarsadmError(result, self.host)
        return result

    def view(self, macro, resource):
        """``marsadm view-<macro> <resource>`` stdout, stripped; empty means unknown/false."""
        argv = [self.path, '--window=%d' % self.window, 'view-' + macro, resource]
        rc, out, err = self.module.run_command(argv, environ_update=MARSADM_ENV, cwd='/', check_rc=False)
        result = MarsadmResult(argv, rc, out, err)
        self.results.append(result)
        if result.failed:
            raise MarsadmError(result, self.host)
        return result.stdout.strip()


def find_marsadm(module, path=None):
    """Absolute path of marsadm, or fail the module with what to do."""
    if path:
        found = module.get_bin_path(path) if '/' not in path else path
        if found and os.path.isfile(found) and os.access(found, os.X_OK):
            return found
        module.fail_json(msg="marsadm_path '%s' is not an executable file; install the MARS userspace tools "
                             "or point marsadm_path to marsadm." % path)
    found = module.get_bin_path('marsadm', opt_dirs=MARSADM_SEARCH_PATHS)
    if not found:
        module.fail_json(msg="marsadm was not found in PATH or %s; install the MARS userspace tools "
                             "(the mars role does this) or set marsadm_path." % ', '.join(MARSADM_SEARCH_PATHS))
    return found

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, georep.mars contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""What a module learns from the host besides the ``/mars`` tree: hostname,
clock, kernel module loaded, ``/mars`` mounted, block devices.  Unit tests
replace its methods."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import stat
import time

from ansible_collections.georep.mars.plugins.module_utils.tree import MARS_DIR, MarsTree


class Environment(object):
    """The host around the tree.  One instance per module run."""

    mars_dir = MARS_DIR
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

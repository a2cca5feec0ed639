# -*- coding: utf-8 -*-
# Copyright: (c) 2026, georep.mars contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""One-pass reader of the MARS ``/mars`` symlink tree.

Symlinks are key->value pairs (the link target is the value, the link mtime is
the Lamport stamp), ``.deleted`` means absent, and the only regular files that
matter are the transaction logfiles ``resource-R/log-*``.  Reading the tree
directly answers every question of ``marsadm view-*`` for all resources at the
cost of one directory walk instead of one Perl process per value.

Pure Python, no Ansible imports, so that unit tests and the emulator can use it,
and the monitoring and housekeeping roles ship it beside their scripts on the
hosts (keep it that way: stdlib imports only).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import re

# MARS keeps its tree here; the kernel module and marsadm know no other place.
MARS_DIR = '/mars'
DELETED = '.deleted'

# Top-level directories that carry nothing we read: local caches, probe copies
# of peers (merge-cluster), IP backups, the ext4 lost+found.
_SKIP_TOP = re.compile(r'^(lost\+found|cache-.*|probe-.*|backups-.*)$')
# Below resource-R/ we need neither the local connection links nor the (empty)
# per-resource defaults.
_SKIP_RESOURCE = re.compile(r'^(local-.*|defaults|defaults-.*)$')
_MAX_DEPTH = 3


def _keep(parts):
    """Decide from the path components below the root whether an entry matters."""
    name = parts[-1]
    if name.startswith('.'):
        # .tmp.* and .deleted-* are marsadm/kernel scratch names, never replicated.
        return False
    if len(parts) > _MAX_DEPTH:
        return False
    if _SKIP_TOP.match(parts[0]):
        return False
    if len(parts) >= 2 and parts[0].startswith('resource-') and _SKIP_RESOURCE.match(parts[1]):
        return False
    return True


class MarsTree(object):
    """The links, logfiles and directories of one host's ``/mars``.

    ``children`` maps a directory (relative path, '' for the root) to a dict of
    entry name -> ``('l', value, mtime)`` for symlinks or ``('f', size, mtime)``
    for logfiles.  Deleted links are kept (value ``.deleted``) so that callers can
    tell "deleted" from "never existed" when they need to; the accessors treat
    them as absent.
    """

    def __init__(self):
        self.children = {'': {}}
        self.dirs = set()

    # ------------------------------------------------------------------ build
    def _add(self, rel, entry):
        parent, _sep, name = rel.rpartition('/')
        self.children.setdefault(parent, {})[name] = entry

    def _add_dir(self, rel):
        self.dirs.add(rel)
        self.children.setdefault(rel, {})

    @classmethod
    def read(cls, root):
        """Walk ``root`` (normally ``/mars``) once, at most three levels deep."""
        tree = cls()
        if os.path.isdir(root):
            tree._scan(root, [])
        return tree

    def _scan(self, root, parts):
        path = os.path.join(root, *parts) if parts else root
        try:
            entries = list(os.scandir(path))
        except OSError:
            return
        for entry in entries:
            sub = parts + [entry.name]
            try:
                if entry.is_symlink():
                    if not _keep(sub):
                        continue
                    value = os.readlink(entry.path)
                    mtime = entry.stat(follow_symlinks=False).st_mtime
                    self._add('/'.join(sub), ('l', value, mtime))
                elif entry.is_dir(follow_symlinks=False):
                    if not _keep(sub):
                        continue
                    self._add_dir('/'.join(sub))
                    self._scan(root, sub)
                elif entry.is_file(follow_symlinks=False):
                    if not _keep(sub) or not entry.name.startswith('log-'):
                        continue
                    st = entry.stat(follow_symlinks=False)
                    self._add('/'.join(sub), ('f', st.st_size, st.st_mtime))
            except OSError:
                # The kernel renames and deletes links all the time; an entry
                # that vanished between scandir and stat simply is not there.
                continue

    @classmethod
    def from_find_listing(cls, text, root=MARS_DIR):
        """Build a tree from ``find /mars -printf '%y %p %l %T@ %s\\n'`` output.

        Link values may contain spaces (kernel messages), paths do not.
        """
        tree = cls()
        prefix = root.rstrip('/') + '/'
        for line in text.splitlines():
            fields = line.split(' ')
            if len(fields) < 4 or fields[0] not in ('d', 'l', 'f'):
                continue
            kind, path = fields[0], fields[1]
            try:
                mtime = float(fields[-2])
                size = int(fields[-1])
            except ValueError:
                continue
            if not path.startswith(prefix):
                continue
            parts = path[len(prefix):].split('/')
            if kind == 'd':
                if _keep(parts):
                    tree._add_dir('/'.join(parts))
            elif kind == 'l':
                if _keep(parts):
                    tree._add('/'.join(parts), ('l', ' '.join(fields[2:-2]), mtime))
            elif parts[-1].startswith('log-') and _keep(parts):
                tree._add('/'.join(parts), ('f', size, mtime))
        return tree

    # --------------------------------------------------------------- queries
    def _entry(self, rel):
        parent, _sep, name = rel.rpartition('/')
        return self.children.get(parent, {}).get(name)

    def get(self, rel):
        """Value of the link ``rel``; None when missing or ``.deleted``."""
        entry = self._entry(rel)
        if entry is None or entry[0] != 'l' or entry[1] == DELETED:
            return None
        return entry[1]

    def stamp(self, rel):
        """Lamport stamp (mtime) of a present link or file, else None."""
        entry = self._entry(rel)
        if entry is None or (entry[0] == 'l' and entry[1] == DELETED):
            return None
        return entry[2]

    def deleted(self, rel):
        """True when ``rel`` is a ``.deleted`` link (it existed and was deleted)."""
        entry = self._entry(rel)
        return entry is not None and entry[0] == 'l' and entry[1] == DELETED

    def file_size(self, rel):
        """Size of a present regular (log)file, else None."""
        entry = self._entry(rel)
        if entry is None or entry[0] != 'f':
            return None
        return entry[1]

    def is_dir(self, rel):
        return rel in self.dirs

    def entries(self, directory):
        """Present (not deleted) entries directly below ``directory``: name -> entry."""
        result = {}
        for name, entry in self.children.get(directory, {}).items():
            if entry[0] == 'l' and entry[1] == DELETED:
                continue
            result[name] = entry
        return result

    def links(self, directory):
        """Present links directly below ``directory``: name -> value."""
        return dict((name, entry[1]) for name, entry in self.entries(directory).items() if entry[0] == 'l')

    def files(self, directory):
        """Present regular files directly below ``directory``: name -> size."""
        return dict((name, entry[1]) for name, entry in self.entries(directory).items() if entry[0] == 'f')

    def resource_names(self):
        """Names of all ``resource-*`` directories (whether or not anyone is a member)."""
        names = set()
        for rel in self.dirs:
            if '/' not in rel and rel.startswith('resource-'):
                names.add(rel[len('resource-'):])
        return sorted(names)

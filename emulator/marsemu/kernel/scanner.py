"""The dentry scanner (MARS ``mars_dent_work``): the /mars tree as sent to peers, read again only
where it changed.

Every peer pulls the whole dentry list every second, and every merge of a peer's list compares
each entry with the local one, so a full walk per request costs a host O(peers x tree) system
calls per second.  The scanner keeps each directory's listing (links with value and Lamport
stamp, subdirectories, logfiles) and reads a directory again only when its ctime changed.  Every
way MARS and marsadm change a link (a new name, a rename over the old one, an unlink) changes
the directory's ctime; a logfile grows in place, so logfiles are looked at on every scan.
"""

import os
import stat
import time

MAX_DEPTH = 3
# A listing is reused only if the directory's last change lies this long before the scan began:
# the kernel takes a ctime from a clock that may run a tick behind time.time_ns(), so a change
# right after the listing could otherwise carry the same ctime. Some filesystems keep whole seconds.
SETTLE_NS = 50 * 1000000
SETTLE_WHOLE_SECONDS_NS = 2 * 1000000000


class Listing:
    """One directory as read: ``entries`` maps a name to ``(kind, link value, mtime_ns)``; ``others``
    names its subdirectories and logfiles, ``rows`` holds its links as dentry-list rows (made when
    first needed)."""

    __slots__ = ("key", "reusable", "entries", "others", "rows")

    def __init__(self, key, reusable, entries, others):
        self.key = key
        self.reusable = reusable
        self.entries = entries
        self.others = others
        self.rows = None

    def link_rows(self, rel):
        if self.rows is None:
            prefix = rel + "/" if rel else ""
            self.rows = [[prefix + name, "l", value, mtime, 0]
                         for name, (kind, value, mtime) in self.entries.items() if kind == "l"]
        return self.rows


def _key(st):
    return st.st_ino, st.st_mtime_ns, st.st_ctime_ns


def _read(path, st, began_ns):
    """A fresh listing of the directory PATH, whose stat (taken before reading it) is ST."""
    entries = {}
    others = []
    for name in sorted(os.listdir(path)):
        if name.startswith("."):
            continue
        sub = path + "/" + name
        try:
            sub_st = os.lstat(sub)
        except OSError:
            continue
        if stat.S_ISLNK(sub_st.st_mode):
            try:
                entries[name] = ("l", os.readlink(sub), sub_st.st_mtime_ns)
            except OSError:
                continue
        elif stat.S_ISDIR(sub_st.st_mode):
            entries[name] = ("d", None, sub_st.st_mtime_ns)
            others.append((name, "d"))
        elif stat.S_ISREG(sub_st.st_mode) and name.startswith("log-"):
            entries[name] = ("f", None, sub_st.st_mtime_ns)
            others.append((name, "f"))
    settle = SETTLE_WHOLE_SECONDS_NS if st.st_ctime_ns % 1000000000 == 0 else SETTLE_NS
    return Listing(_key(st), st.st_ctime_ns + settle < began_ns, entries, others)


class Scanner:
    """The dentry list of the tree under ROOT, and the local entry of a name, from cached listings."""

    def __init__(self, root):
        self.root = root
        self._listings = {}

    def scan(self):
        """The dentry list sent to peers: ``[rel, kind, link value, mtime_ns, size]``; per directory its
        links, then each subdirectory (before what it holds) and logfile, names sorted."""
        entries = []
        self._walk(entries)
        return entries

    def refresh(self):
        """Bring the cached listings up to date (before ``known`` is asked)."""
        self._walk(None)

    def known(self, parent, name):
        """``(kind, link value, mtime_ns)`` of PARENT/NAME as of the last scan or refresh; None if absent
        there (or no link, directory or logfile).  A logfile's mtime may have changed since."""
        listing = self._listings.get(parent)
        return None if listing is None else listing.entries.get(name)

    def restamped(self, rel, value, stamp):
        """REL (a link of value VALUE) got the new mtime STAMP in place, by this process: a change its
        directory's ctime does not show."""
        parent, name = rel.rpartition("/")[::2]
        listing = self._listings.get(parent)
        if listing is not None and name in listing.entries:
            listing.entries[name] = ("l", value, stamp)
            listing.rows = None

    def _walk(self, entries):
        began = time.time_ns()
        listings = {}
        try:
            root_st = os.stat(self.root)
        except OSError:
            self._listings = listings
            return

        def walk(rel, depth, dir_st):
            path = self.root + "/" + rel if rel else self.root
            listing = self._listings.get(rel)
            if listing is None or not listing.reusable or listing.key != _key(dir_st):
                try:
                    listing = _read(path, dir_st, began)
                except OSError:
                    return
            listings[rel] = listing
            if entries is not None:
                entries.extend(listing.link_rows(rel))
            for name, kind in listing.others:
                if kind == "f" and entries is None:
                    continue
                sub = rel + "/" + name if rel else name
                try:
                    sub_st = os.lstat(path + "/" + name)
                except OSError:
                    continue
                if kind == "d" and stat.S_ISDIR(sub_st.st_mode):
                    if entries is not None:
                        entries.append([sub, "d", None, sub_st.st_mtime_ns, 0])
                    if depth < MAX_DEPTH:
                        walk(sub, depth + 1, sub_st)
                elif kind == "f" and stat.S_ISREG(sub_st.st_mode):
                    # a logfile grows (and may be touched) without its directory changing
                    entries.append([sub, "f", None, sub_st.st_mtime_ns, sub_st.st_size])

        walk("", 1, root_st)
        self._listings = listings

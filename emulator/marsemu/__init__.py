"""Userspace stand-in for the MARS kernel module (``kernel``) and for ``marsadm`` (``marsadm``).

Both halves talk to each other only through what the real ones use: the ``/mars`` symlink tree
and ``/proc/sys/mars``.  ``common`` holds the few helpers both need to read and write that tree.
"""

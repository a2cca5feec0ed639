"""A Python stand-in for MARS' ``marsadm`` (userspace/marsadm, version 2.9) for lab hosts and CI.

It is driven exactly like the real tool: same command names, arguments and global options, the
same links written below /mars (with Lamport mtimes and ``.deleted`` deletion), the same view
outputs, error texts and exit codes.  ``main(argv)`` runs one invocation in-process.
"""

from marsemu.marsadm.cli import main

__all__ = ["main"]

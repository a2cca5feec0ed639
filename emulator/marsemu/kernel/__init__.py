"""The emulated MARS kernel module: one asyncio daemon per host (``python3 -m marsemu.kernel``).

One module per concern, named after MARS: ``clock`` (Lamport clock), ``procsys`` (the
/proc/sys/mars stand-in), ``replication`` (symlink-tree replication, port 7777), ``indicators``
(actual-* links), ``roles`` (attach / primary / sync / replay control), ``device`` (/dev/mars/DEV),
``writepath``, ``logfile`` and ``logger`` (the transaction log), ``fetch`` (port 7778),
``replay``, ``sync`` (full sync, port 7779), ``daemon`` (wiring).  See README.md.
"""

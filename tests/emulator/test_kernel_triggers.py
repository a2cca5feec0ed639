"""/proc/sys/mars/trigger: one trigger per write(), as the real module handles them.

As root the trigger is a FUSE file that keeps write boundaries; the FIFO fallback splits codes
that arrive together in one read by guessing (``split_trigger_codes``).
"""

import asyncio
import errno
import os
import stat
import threading

import pytest

from kernel_cluster import EmuCluster, wait_until
from marsemu.common import Paths
from marsemu.kernel import triggerfs
from marsemu.kernel.clock import LamportClock
from marsemu.kernel.procsys import ProcSys, one_write_code, split_trigger_codes


@pytest.mark.parametrize("text, codes", [
    ("3", ["3"]),
    ("3p a b c", ["3", "p a b c"]),
    ("p a b c\n3\n", ["p a b c", "3"]),
    # a push followed by a scan in the same read: the push keeps exactly its three fields
    ("p h3 /mars/ips/ip-h3 /mars/ips/ip-h3 3", ["p h3 /mars/ips/ip-h3 /mars/ips/ip-h3", "3"]),
    ("P h3 10.0.0.3 /mars/a /mars/a 8", ["P h3 10.0.0.3 /mars/a /mars/a", "8"]),
    ("t 5 1", ["t 5", "1"]),
    ("x whatever comes", ["x whatever comes"]),
])
def test_split(text, codes):
    assert split_trigger_codes(text) == codes


@pytest.mark.parametrize("data, code", [
    (b"3", "3"),
    (b"p h1 10.0.0.2 /mars/ips/ip-h2", "p h1 10.0.0.2 /mars/ips/ip-h2"),
    (b"3\n", "3"),  # the kernel's proc_dostring stops at a newline or NUL
    (b"1\0junk", "1"),
])
def test_one_write_code(data, code):
    assert one_write_code(data) == code


def trigger_mounted(path):
    with open("/proc/self/mountinfo", encoding="utf-8") as handle:
        return any(line.split()[4] == path for line in handle)


@pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists("/dev/fuse"), reason="a FUSE trigger needs root and /dev/fuse")
def test_two_writes_to_a_busy_module_stay_two_triggers(tmp_path):
    """Issue 14: a join's push ``p h1 IP /mars/ips/ip-h2`` and the ``3`` after it, glued, made ``ips/ip-h23``."""
    cluster = EmuCluster(str(tmp_path), 2)
    cluster.start()
    h1, h2 = cluster.hosts
    try:
        assert trigger_mounted(h2.procsys("trigger"))
        h1.create_cluster()
        os.makedirs(h2.path("ips"), exist_ok=True)
        h2.set("ips/ip-h1", h1.ip)
        h2.cut()  # the module is busy while marsadm writes both codes, one open/write/close each
        writer = threading.Thread(target=lambda: (h2.trigger("p h1 %s /mars/ips/ip-h2" % h2.ip), h2.trigger("3")))
        writer.start()
        writer.join(1.0)  # a FIFO takes both writes at once; the FUSE file holds the first until the module runs
        h2.heal()
        writer.join(10.0)
        assert not writer.is_alive(), "the trigger writes did not return"
        pushed = wait_until(lambda: sorted(set(os.listdir(h1.path("ips"))) - {"ip-h1"}), what="h2's push to reach h1")
        assert pushed == ["ip-h2"] and h1.get("ips/ip-h2") == h2.ip
    finally:
        cluster.stop()
    assert not trigger_mounted(h2.procsys("trigger"))


def test_fifo_fallback_without_fuse(tmp_path, monkeypatch):
    """Without FUSE (no root, no /dev/fuse) the trigger is a FIFO; codes read together are split by guessing."""
    def refuse(_self):
        raise PermissionError(errno.EPERM, "Operation not permitted")
    monkeypatch.setattr(triggerfs.TriggerFile, "mount", refuse)
    procsys = ProcSys(Paths(str(tmp_path)), LamportClock(), 7777)
    procsys.create()
    trigger = os.path.join(procsys.root, "trigger")
    codes = []

    async def write_and_read():
        task = asyncio.create_task(procsys.read_triggers(codes.append))
        fd = os.open(trigger, os.O_WRONLY | os.O_NONBLOCK)
        os.write(fd, b"p h1 10.0.0.2 /mars/ips/ip-h2\n")
        os.write(fd, b"3")
        os.close(fd)
        for _attempt in range(100):
            if len(codes) >= 2:
                break
            await asyncio.sleep(0.02)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    try:
        assert stat.S_ISFIFO(os.stat(trigger).st_mode)
        asyncio.run(write_and_read())
    finally:
        procsys.remove()
    assert codes == ["p h1 10.0.0.2 /mars/ips/ip-h2", "3"]

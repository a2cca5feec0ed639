"""Emergency mode on the emulated kernel side: /mars "runs full" on the primary (its free-space
limits raised above the free space), logging stops with a hole in the logfile sequence, writes go
unlogged to the disk; after recovery the secondaries replay across the hole claiming to be up to
date, only the "not consecutive" warning tells, and ``invalidate`` repairs them."""

import errno
import io
import os

import pytest

from kernel_cluster import replayed_everything, wait_for_pass, wait_until
from marsemu.common import parse_stamp
from marsemu.kernel.space import SpaceGuard, mode_for, space_low_warning
from marsemu.kernel.writepath import LoggedDisk
from marsemu.marsadm import main
from test_kernel_roles import SIZE, md5

GIB_KIB = 1024 * 1024


def marsadm(host, *argv):
    out, err = io.StringIO(), io.StringIO()
    rc = main(["--window=10", "--timeout=20"] + list(argv), stdout=out, stderr=err,
              root=host.paths.root, hostname=host.name)
    return rc, out.getvalue(), err.getvalue()


def set_sysctl(host, name, value):
    with open(host.procsys(name), "w", encoding="ascii") as handle:
        handle.write("%d\n" % value)


def free_gib(host):
    st = os.statvfs(host.paths.mars)
    return st.f_bavail * st.f_frsize // (1024 ** 3)


def write_unlogged(host, offset, data):
    """What the write path does in emergency mode (no FUSE here): the disk only."""
    with open(host.disk, "r+b") as disk:
        disk.seek(offset)
        disk.write(data)


@pytest.mark.parametrize("rest_gib, expected", [(9, 0), (7, 1), (5, 2), (3, 3), (1, 4)])
def test_levels_add_up_from_limit_4(rest_gib, expected):
    assert mode_for(rest_gib * GIB_KIB, [2, 2, 2, 2]) == (expected, 8 * GIB_KIB)


class FakeProcSys:
    def __init__(self, **values):
        self.values = values
        self.published = {}

    def get_int(self, name, default):
        return self.values.get(name, default)

    def set_value(self, name, value):
        self.published[name] = value


def statvfs_of(total_gib, free_gib_):
    class Result:  # pylint: disable=too-few-public-methods
        f_frsize = 4096
        f_blocks = total_gib * 1024 ** 3 // 4096
        f_bavail = free_gib_ * 1024 ** 3 // 4096
    return lambda _path: Result


@pytest.mark.parametrize("mode, text", [
    (0, None), (1, "EMERGENCY: the space on /mars/ is becoming low."), (2, "EMERGENCY: the space on /mars/ is low."),
    (3, "EMERGENCY: the space on /mars/ is VERY low."), (4, "EMERGENCY: the space on /mars/ is VERY low."),
])
def test_space_low_warning_per_level(mode, text):
    # main.c make_log_finalize: IS_EXHAUSTED (>0), IS_EMERGENCY_SECONDARY (>1), IS_EMERGENCY_PRIMARY (>2)
    assert space_low_warning(mode) == text


def test_module_refuses_to_load_on_a_small_mars():
    with pytest.raises(OSError) as info:
        SpaceGuard(FakeProcSys(), "/mars", statvfs_of(8, 7)).check_load()
    assert info.value.errno == errno.ENOSPC and "No space left on device" in str(info.value)
    SpaceGuard(FakeProcSys(), "/mars", statvfs_of(9, 9)).check_load()


def test_recovery_comes_down_one_level_per_pass():
    procsys = FakeProcSys()
    guard = SpaceGuard(procsys, "/mars", statvfs_of(20, 1))
    assert guard.update() == 4 and guard.jammed
    guard.statvfs = statvfs_of(20, 19)
    assert [guard.update() for _pass in range(5)] == [3, 2, 1, 0, 0]
    assert procsys.published["mars_emergency_mode"] == 0


def test_logged_disk_in_emergency_writes_only_the_disk(tmp_path):
    class Disk:
        def __init__(self):
            self.writes = []

        def pwrite(self, data, offset):
            self.writes.append((offset, bytes(data)))

    class Clock:
        @staticmethod
        def now():
            return 1

    disk = Disk()
    logged = LoggedDisk(disk, 1 << 20, Clock())
    log = tmp_path / "log-000000001-h1"
    logged.switch_log(str(log))
    logged.write(0, b"logged")
    logged.logging = False
    logged.write(512, b"unlogged")
    logged.close()
    assert disk.writes == [(0, b"logged"), (512, b"unlogged")]
    assert b"logged" in log.read_bytes() and b"unlogged" not in log.read_bytes()


def test_emergency_leaves_a_hole_that_only_invalidate_repairs(synced):
    h1, h2, h3 = synced.hosts
    # /mars "full" on the primary: limit 4 above the free space
    set_sysctl(h1, "required_free_space_4_gb", free_gib(h1) + 2)
    wait_until(lambda: h1.get("actual-h1/emergency") == "4", timeout=5, what="level 4")
    # one pass writes both links, one after the other: wait for the pair, not for the first of them
    wait_until(lambda: h1.indicator("r1", "is-emergency") == "1" and h1.indicator("r1", "has-emergency") == "1",
               timeout=5, what="emergency mode")
    assert "stopped transaction logging" in h1.indicator("r1", "msg-err-emergency")
    assert "DISK SPACE IS EXTREMELY LOW" in h1.indicator("r1", "msg-err-space-low")
    assert h1.indicator("r1", "msg-wrn-space-low").endswith(" EMERGENCY: the space on /mars/ is VERY low.")
    assert marsadm(h1, "view-is-emergency", "r1")[1] == "1\n"
    # the hole: version-11 marks it, logging goes on in log-12
    assert h1.res("r1", "version-000000011-h1").startswith("0" * 32 + ",log-000000011-h1,0:")
    wait_until(lambda: h1.res("r1", "replay-h1") == "log-000000012-h1,0,0", timeout=5, what="new logfile")
    write_unlogged(h1, 65536, b"unlogged during emergency " * 100)
    # space freed: the mode comes down level by level, then logging resumes in log-12
    set_sysctl(h1, "required_free_space_4_gb", 2)
    wait_until(lambda: h1.indicator("r1", "is-emergency") == "0", timeout=10, what="end of emergency")
    assert h1.get("actual-h1/emergency") == "0"
    h1.write("r1", 131072, b"logged after emergency " * 100)
    wait_until(lambda: h1.res("r1", "replay-h1") != "log-000000012-h1,0,0", timeout=5, what="log-12 to grow")
    for host in (h2, h3):
        wait_until(lambda h=host: replayed_everything(h, h1), timeout=15, what="%s across the hole" % host.name)
        # looks up to date, but the unlogged write is missing; only the warning tells
        assert "transaction logs are not consecutive" in host.indicator("r1", "msg-wrn-log-consecutive")
        assert marsadm(host, "view-replay-rest", "r1")[1] == "0\n"
        assert md5(host.disk) != md5(h1.disk)
    rc, out, err = marsadm(h2, "invalidate", "r1")
    assert rc == 0, out + err
    wait_until(lambda: h2.res("r1", "syncstatus-h2") == str(SIZE) and replayed_everything(h2, h1),
               timeout=30, what="full sync of h2")
    wait_until(lambda: md5(h2.disk) == md5(h1.disk), timeout=10, what="h2 repaired")
    assert md5(h3.disk) != md5(h1.disk)


def emergency_with_a_hole(h1):
    """/mars runs full on the primary: a hole in the logfile sequence, a write not logged, space freed,
    a logged write after it."""
    set_sysctl(h1, "required_free_space_4_gb", free_gib(h1) + 2)
    wait_until(lambda: h1.indicator("r1", "is-emergency") == "1", timeout=5, what="emergency mode")
    wait_until(lambda: h1.res("r1", "replay-h1") == "log-000000012-h1,0,0", timeout=5, what="new logfile")
    write_unlogged(h1, 65536, b"unlogged during emergency " * 100)
    set_sysctl(h1, "required_free_space_4_gb", 2)
    wait_until(lambda: h1.indicator("r1", "is-emergency") == "0", timeout=10, what="end of emergency")
    h1.write("r1", 131072, b"logged after emergency " * 100)
    wait_until(lambda: h1.res("r1", "replay-h1") != "log-000000012-h1,0,0", timeout=5, what="log-12 to grow")


def test_a_fetch_paused_over_the_emergency_still_warns_after_resuming(synced):
    h1, _h2, h3 = synced.hosts
    set_sysctl(h3, "mars_keep_msg_s", 1)  # messages outlive their cause by 1 s (not 10): a late one is renewed
    assert marsadm(h3, "pause-fetch", "r1")[0] == 0
    emergency_with_a_hole(h1)
    # h3 knows the primary is ahead but, with its fetch paused, has nothing to replay
    wait_until(lambda: h3.res("r1", "replay-h1") == h1.res("r1", "replay-h1"), timeout=10, what="h3 to see h1's log")
    wait_for_pass(h3)
    assert (h3.indicator("r1", "is-replaying"), marsadm(h3, "view-is-replay", "r1")[1]) == ("0", "0\n")
    assert marsadm(h3, "resume-fetch", "r1")[0] == 0
    wait_until(lambda: replayed_everything(h3, h1), timeout=15, what="h3 across the hole")
    text = "transaction logs are not consecutive at '/mars/resource-r1/log-000000012-h1' (1 ~> 12)"
    first = wait_until(lambda: h3.indicator("r1", "msg-wrn-log-consecutive").endswith(" " + text)
                       and parse_stamp(h3.indicator("r1", "msg-wrn-log-consecutive").split()[1]), what="the warning")
    # main.c make_log_step warns on every pass while the data miss the hole: still there well after its keep time
    wait_for_pass(h3, since=first + 3 * 10 ** 9)
    assert h3.indicator("r1", "msg-wrn-log-consecutive").endswith(" " + text)
    assert marsadm(h3, "view-replay-rest", "r1")[1] == "0\n" and md5(h3.disk) != md5(h1.disk)

"""The helpers that the emulated kernel side and the emulated marsadm share (marsemu/common.py)."""

import os
import time

import pytest

from marsemu import common

NSEC = 1000000000


@pytest.mark.parametrize("text, expected", [
    ("1795628651.770869220", 1795628651 * NSEC + 770869220),
    ("1795628651", 1795628651 * NSEC),
    ("1795628651.", 1795628651 * NSEC),
    ("1795628651.5", 1795628651 * NSEC + 500000000),
    ("1795628651.1234567891", 1795628651 * NSEC + 123456789),  # beyond ns: cut, not rounded
    ("  12.000000001\n", 12 * NSEC + 1),
    ("12.5 trailing junk", 12 * NSEC + 500000000),  # Perl reads the leading number
    # marsadm treats these as 0 (not recent, clock unknown), never as an error
    ("", 0), (None, 0), ("garbage", 0), ("-5.0", 0), (".5", 0),
])
def test_parse_stamp(text, expected):
    assert common.parse_stamp(text) == expected


def test_parse_stamp_reverses_format_stamp():
    for stamp in (0, 1, NSEC - 1, 1795628651770869220):
        assert common.parse_stamp(common.format_stamp(stamp)) == stamp


@pytest.mark.parametrize("value, expected", [
    # the recorded real values (traces/real-mars-A)
    ("log-000000001-vm1,0,0", (1, "vm1", 0, 0)),
    ("log-000000004-vm1,17121280,2052", (4, "vm1", 17121280, 2052)),
    ("log-000000002-vm2,16785408,0", (2, "vm2", 16785408, 0)),
    # host names may contain dashes; the number needs no zero padding to be read
    ("log-000000010-db-west-1,512,0", (10, "db-west-1", 512, 0)),
    ("log-7-h1,3,4", (7, "h1", 3, 4)),
    # unreadable
    ("", None), (None, None), (".deleted", None), ("log-000000001-vm1,0", None),
    ("log-000000001-,0,0", None), ("log-x-vm1,0,0", None), (" log-000000001-vm1,0,0", None),
    ("version-000000001-vm1,0,0", None),
])
def test_parse_replay(value, expected):
    assert common.parse_replay(value) == expected


def test_one_parse_replay_and_one_parse_stamp():
    """The kernel side and marsadm use the shared helpers, no copies of their own."""
    from marsemu.kernel import logger, replay, roles  # pylint: disable=import-outside-toplevel
    from marsemu.marsadm import lookup  # pylint: disable=import-outside-toplevel
    assert logger.parse_replay is replay.parse_replay is roles.parse_replay is common.parse_replay
    assert not hasattr(lookup, "parse_replay") and not hasattr(lookup, "stamp_value")


def test_lamport_now_is_never_behind_wall_time_though_the_file_is_stale(tmp_path):
    """The kernel computes lamport_clock when it is read; the emulator rewrites the file every 50 ms.
    A stale value would stamp marsadm's links older than a pass of the module that began before
    them (leave-resource's .deleted marks were overwritten that way under load)."""
    paths = common.Paths(str(tmp_path))
    os.makedirs(paths.procsys)
    stale = time.time_ns() - 5 * NSEC
    with open(os.path.join(paths.procsys, "lamport_clock"), "w", encoding="ascii") as handle:
        handle.write("CURRENT_TIME=%s\nlamport_now=%s\nCALLS=1" % (common.format_stamp(stale), common.format_stamp(stale)))
    before = time.time_ns()
    assert common.lamport_now(paths) >= before
    ahead = before + 60 * NSEC  # a clock ahead of real time (witnessed from a peer) stays ahead
    with open(os.path.join(paths.procsys, "lamport_clock"), "w", encoding="ascii") as handle:
        handle.write("lamport_now=%s\n" % common.format_stamp(ahead))
    assert common.lamport_now(paths) == ahead

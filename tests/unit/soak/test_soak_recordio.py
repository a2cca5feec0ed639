"""The record format, the writer and the scanner on plain files (no lab, no MARS)."""

import argparse
import errno
import hashlib
import json
import os
import pathlib
import shutil
import tempfile

import pytest

from soak import recordio

BLOCK = recordio.BLOCK


def args_for(tmp_path, **over):
    values = dict(device=str(tmp_path / "dev.img"), resource="r1", soak="s1", writer="w1", ack_log=str(tmp_path / "ack.jsonl"),
                  ack_fsync=False, rate=0, max_records=20, max_seconds=0, block=BLOCK, slots=0, resume=True, start_seq=1)
    values.update(over)
    return argparse.Namespace(**values)


def device(tmp_path, blocks=64):
    path = tmp_path / "dev.img"
    with open(path, "wb") as handle:
        handle.truncate(blocks * BLOCK)
    return str(path)


def ack_lines(path):
    return [json.loads(line) for line in open(path, encoding="utf-8")]


def test_record_round_trip_and_torn_write_is_corrupt():
    block = recordio.encode("s1", "r1", "w1", 7, 123, BLOCK)
    assert len(block) == BLOCK
    status, record = recordio.decode(block, "s1")
    assert status == "ok" and record == {"resource": "r1", "seq": 7, "time_ns": 123, "writer": "w1"}
    # the first sector new, the rest from another record: the checksum at the end catches it
    torn = block[:512] + recordio.encode("s1", "r1", "w1", 8, 124, BLOCK)[512:]
    assert recordio.decode(torn, "s1")[0] == "corrupt"
    assert recordio.decode(b"\0" * BLOCK, "s1")[0] == "empty"
    assert recordio.decode(block, "other")[0] == "foreign"


def test_identifiers_must_fit():
    with pytest.raises(ValueError, match="writer id"):
        recordio.encode("s1", "r1", "w" * 17, 1, 0)


def test_writer_acks_every_record_and_scan_finds_them(tmp_path):
    device(tmp_path)
    last = recordio.write(args_for(tmp_path))
    assert last == 20
    lines = ack_lines(tmp_path / "ack.jsonl")
    assert lines[0]["event"] == "start" and lines[0]["after_seq"] == 0 and lines[0]["slots"] == 64
    assert [line["seq"] for line in lines[1:-1]] == list(range(1, 21))
    assert lines[-1] == dict(lines[-1], event="stop", reason="max-records", last_acked=20)
    result = recordio.scan(str(tmp_path / "dev.img"), "s1")
    assert (result["contiguous_to"], result["max_seq"], result["holes"], result["corrupt"]) == (20, 20, 0, 0)
    assert result["segments"] == [{"writer": "w1", "first": 1, "last": 20}]


def test_a_new_run_resumes_after_the_highest_contiguous_record(tmp_path):
    device(tmp_path)
    recordio.write(args_for(tmp_path, max_records=5))
    recordio.write(args_for(tmp_path, writer="w2", max_records=3))
    start = [line for line in ack_lines(tmp_path / "ack.jsonl") if line.get("event") == "start"][-1]
    assert (start["after_seq"], start["after_writer"]) == (5, "w1")
    assert recordio.scan(str(tmp_path / "dev.img"), "s1")["segments"] == [
        {"writer": "w1", "first": 1, "last": 5}, {"writer": "w2", "first": 6, "last": 8}]


def test_the_ring_wraps_and_the_window_moves(tmp_path):
    device(tmp_path, blocks=8)
    recordio.write(args_for(tmp_path, max_records=19))
    result = recordio.scan(str(tmp_path / "dev.img"), "s1")
    assert (result["window_low"], result["contiguous_to"], result["records"], result["misplaced"]) == (12, 19, 8, 0)


def test_scan_reports_holes_torn_and_misplaced_blocks(tmp_path):
    path = device(tmp_path, blocks=16)
    with open(path, "r+b") as handle:
        for seq in (1, 2, 3, 5, 6):
            handle.seek(recordio.slot_of(seq, 16) * BLOCK)
            handle.write(recordio.encode("s1", "r1", "w1", seq, 0))
        handle.seek(6 * BLOCK)  # seq 7's slot: torn
        handle.write(recordio.encode("s1", "r1", "w1", 7, 0)[:1000] + b"\0" * (BLOCK - 1000))
        handle.seek(10 * BLOCK)  # seq 3 again, in seq 11's slot
        handle.write(recordio.encode("s1", "r1", "w1", 3, 0))
    result = recordio.scan(path, "s1")
    assert (result["contiguous_to"], result["max_seq"], result["first_holes"], result["beyond_hole"]) == (3, 6, [4], 2)
    assert result["corrupt"] == 1 and result["corrupt_records"][0]["seq"] == 7
    assert result["misplaced"] == 1


def test_stop_reason_from_a_signal(tmp_path):
    device(tmp_path)
    stop = recordio.Stop()
    stop.on_signal(15, None)
    assert recordio.write(args_for(tmp_path), stop=stop) == 0
    assert ack_lines(tmp_path / "ack.jsonl")[-1]["reason"] == "signal SIGTERM"


def test_stop_reason_from_an_io_error(tmp_path, monkeypatch):
    device(tmp_path)
    real = recordio.Device.write_block
    calls = []

    def failing(self, index, data):
        calls.append(index)
        if len(calls) == 4:
            raise OSError(errno.EIO, "Input/output error")
        real(self, index, data)

    monkeypatch.setattr(recordio.Device, "write_block", failing)
    assert recordio.write(args_for(tmp_path)) == 3
    assert ack_lines(tmp_path / "ack.jsonl")[-1]["reason"] == "error: seq 4: [Errno 5] Input/output error"


def test_missing_device_is_recorded_not_raised(tmp_path):
    assert recordio.write(args_for(tmp_path)) is None
    assert ack_lines(tmp_path / "ack.jsonl")[-1]["reason"].startswith("error: [Errno 2]")


def test_falls_back_to_buffered_io_where_o_direct_is_refused(tmp_path, monkeypatch):
    device(tmp_path)
    real_open = os.open

    def no_direct(path, flags, *mode):
        if flags & os.O_DIRECT:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_open(path, flags, *mode)

    monkeypatch.setattr(recordio.os, "open", no_direct)
    assert recordio.write(args_for(tmp_path, max_records=3)) == 3
    start = ack_lines(tmp_path / "ack.jsonl")[0]
    assert start["direct"] is False and "O_DIRECT refused" in start["note"]
    assert recordio.scan(str(tmp_path / "dev.img"), "s1")["contiguous_to"] == 3


@pytest.fixture
def shm_dir():
    if not os.path.isdir("/dev/shm"):
        pytest.skip("no tmpfs at /dev/shm on this machine")
    path = tempfile.mkdtemp(dir="/dev/shm")
    yield pathlib.Path(path)
    shutil.rmtree(path)


def test_on_tmpfs_with_or_without_o_direct(shm_dir):  # pylint: disable=redefined-outer-name
    """tmpfs refuses O_DIRECT before Linux 6.6 and accepts it since: either way the records land, and the log says which."""
    device(shm_dir, blocks=16)
    assert recordio.write(args_for(shm_dir, max_records=4)) == 4
    start = ack_lines(shm_dir / "ack.jsonl")[0]
    assert start["direct"] is (start["note"] is None)
    assert recordio.scan(str(shm_dir / "dev.img"), "s1")["contiguous_to"] == 4


def test_md5_covers_the_resource_size_only(tmp_path):
    path = device(tmp_path, blocks=4)
    with open(path, "r+b") as handle:
        handle.seek(3 * BLOCK)
        handle.write(b"x" * BLOCK)
    assert recordio.md5(path, 2 * BLOCK)["md5"] == hashlib.md5(b"\0" * 2 * BLOCK).hexdigest()
    assert recordio.md5(path)["md5"] != recordio.md5(path, 2 * BLOCK)["md5"]


def test_command_line_scan_prints_json(tmp_path, capsys):
    device(tmp_path)
    recordio.write(args_for(tmp_path, max_records=2))
    assert recordio.main(["scan", str(tmp_path / "dev.img"), "--soak", "s1"]) == 0
    assert json.loads(capsys.readouterr().out)["contiguous_to"] == 2


def test_check_command_compares_an_image_with_the_ack_logs(tmp_path, capsys):
    from soak import __main__ as soak_main  # pylint: disable=import-outside-toplevel
    device(tmp_path)
    recordio.write(args_for(tmp_path, max_records=5, ack_log=str(tmp_path / "a1.jsonl")))
    recordio.write(args_for(tmp_path, writer="w2", max_records=3, ack_log=str(tmp_path / "a2.jsonl")))
    argv = ["check", str(tmp_path / "dev.img"), "--soak", "s1", "--acks", str(tmp_path / "a1.jsonl"), str(tmp_path / "a2.jsonl")]
    assert soak_main.main(argv) == 0
    assert json.loads(capsys.readouterr().out)["lineage"]["contiguous_to"] == 8
    with open(tmp_path / "dev.img", "r+b") as handle:  # lose seq 7 (acked by w2)
        handle.seek(6 * BLOCK)
        handle.write(b"\0" * BLOCK)
    assert soak_main.main(argv) == 1
    # seq 8 is still there, but above the hole: not part of the stream
    assert json.loads(capsys.readouterr().out)["lineage"]["findings"] == [
        "r1: 2 acknowledged records missing on the primary (first seq 7)", "r1: 1 holes on the primary's device",
        "r1: 1 records above a hole on the primary's device"]

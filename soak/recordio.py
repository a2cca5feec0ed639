"""Soak records on a block device: the writer that runs on a lab host, the scanner, an md5.

Standard library only: the driver copies this one file to a lab host and runs it there
(``python3 recordio.py write|scan|md5 ...``); the controller imports the same code to parse.

A record fills one block (4 KiB) at the offset of its sequence number, ``(seq - 1) % slots``
blocks into the device (a ring, so a long soak never runs off the end)::

    magic 8 | soak id 8 | resource 32 | writer 16 | seq u64 | time_ns u64 | payload length u32
    | payload (deterministic from soak, writer, seq) | zeros | blake2b-128 of all before it

The checksum sits at the very end of the block, so a write torn between sectors shows as
corrupt.  The writer writes seq N+1 only after N is acknowledged (written and fsync'd), so on
any replica the records of one stream form a prefix: a record above a missing one is a finding.
"""

import argparse
import errno
import hashlib
import json
import mmap
import os
import signal
import socket
import struct
import sys
import time

MAGIC = b"GEOSOAK1"
BLOCK = 4096
HEADER = struct.Struct("<8s8s32s16sQQI")
DIGEST = 16
ID_BYTES = 8  # soak id
NAME_BYTES = 32  # resource
WRITER_BYTES = 16
CHUNK_BLOCKS = 256  # the scanner and md5 read 1 MiB at a time


def _field(text, size, what):
    raw = text.encode("ascii")
    if not raw or len(raw) > size:
        raise ValueError("%s '%s' must be 1..%d ASCII characters" % (what, text, size))
    return raw.ljust(size, b"\0")


def payload(soak, writer, seq, length):
    """The payload of a record: pseudo-random, so it does not compress, and reproducible."""
    return hashlib.shake_128(b"%s/%s/%d" % (soak.encode(), writer.encode(), seq)).digest(length)


def encode(soak, resource, writer, seq, time_ns, block=BLOCK):
    length = block - HEADER.size - DIGEST
    head = HEADER.pack(MAGIC, _field(soak, ID_BYTES, "soak id"), _field(resource, NAME_BYTES, "resource"),
                       _field(writer, WRITER_BYTES, "writer id"), seq, time_ns, length)
    body = head + payload(soak, writer, seq, length)
    return body + hashlib.blake2b(body, digest_size=DIGEST).digest()


def decode(buf, soak):
    """``(status, record)`` of one block: status is empty, foreign (another soak), corrupt or ok.

    A corrupt block still returns what its header says (it may be torn, the header intact).
    """
    block = len(buf)
    magic, soak_id, resource, writer, seq, time_ns, length = HEADER.unpack_from(buf, 0)
    if magic != MAGIC:
        return "empty", None
    record = {"resource": resource.rstrip(b"\0").decode("ascii", "replace"), "seq": seq, "time_ns": time_ns,
              "writer": writer.rstrip(b"\0").decode("ascii", "replace")}
    if soak_id.rstrip(b"\0").decode("ascii", "replace") != soak:
        return "foreign", record
    if length != block - HEADER.size - DIGEST:
        return "corrupt", record
    body = bytes(buf[:block - DIGEST])
    if hashlib.blake2b(body, digest_size=DIGEST).digest() != bytes(buf[block - DIGEST:]):
        return "corrupt", record
    return "ok", record


def slot_of(seq, slots):
    return (seq - 1) % slots


class Device:
    """A block device (or file) opened for direct I/O where the filesystem allows it.

    O_DIRECT needs aligned buffers, offsets and lengths: the buffer is an anonymous mmap (page
    aligned), every transfer is whole blocks.  Where O_DIRECT is refused (tmpfs, some FUSE
    files) the file is opened buffered and ``note`` says so; durability then rests on fsync.
    """

    def __init__(self, path, write=False, direct=True, block=BLOCK, buffer_blocks=1):
        self.path = path
        self.block = block
        self.note = None
        self.direct = False
        self._flags = os.O_RDWR if write else os.O_RDONLY
        self.fd = None
        if direct and hasattr(os, "O_DIRECT"):
            try:
                self.fd = os.open(path, self._flags | os.O_DIRECT)
                self.direct = True
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
                self.note = "O_DIRECT refused on %s (%s): buffered I/O, fsync per record" % (path, exc.strerror)
        if self.fd is None:
            self.fd = os.open(path, self._flags)
        self.buf = mmap.mmap(-1, block * buffer_blocks)
        self.size = os.lseek(self.fd, 0, os.SEEK_END)

    def _fall_back(self, exc):
        """Some filesystems accept O_DIRECT at open and refuse it at the first transfer."""
        if not self.direct or exc.errno != errno.EINVAL:
            raise exc
        os.close(self.fd)
        self.fd = os.open(self.path, self._flags)
        self.direct = False
        self.note = "O_DIRECT refused by the first transfer on %s: buffered I/O, fsync per record" % self.path

    def write_block(self, index, data):
        self.buf.seek(0)
        self.buf.write(data)
        view = memoryview(self.buf)[:self.block]
        try:
            try:
                written = os.pwrite(self.fd, view, index * self.block)
            except OSError as exc:
                self._fall_back(exc)
                written = os.pwrite(self.fd, view, index * self.block)
        finally:
            view.release()
        if written != self.block:
            raise OSError(errno.EIO, "short write at block %d: %d of %d bytes" % (index, written, self.block))

    def sync(self):
        os.fsync(self.fd)

    def read_blocks(self, index, count):
        """A memoryview of ``count`` blocks from block ``index`` (fewer at the end of the device)."""
        length = min(count * self.block, len(self.buf), self.size - index * self.block)
        view = memoryview(self.buf)[:length]
        try:
            got = os.preadv(self.fd, [view], index * self.block)
        except OSError as exc:
            view.release()
            self._fall_back(exc)
            view = memoryview(self.buf)[:length]
            got = os.preadv(self.fd, [view], index * self.block)
        return view[:got]

    def close(self):
        self.buf.close()
        os.close(self.fd)


# ---------------------------------------------------------------- scan

def scan(path, soak, block=BLOCK, slots=None, limit=20):
    """What a device holds: the highest contiguous seq, the streams, holes, torn or corrupt blocks.

    ``contiguous_to`` is K: every seq from the oldest one the ring can still hold up to K is
    present and valid.  ``segments`` split 1..K (within the ring) by writer, in seq order.
    Lists are cut at ``limit`` entries; the counts are complete.
    """
    dev = Device(path, block=block, buffer_blocks=CHUNK_BLOCKS)
    try:
        slots = slots or dev.size // block
        found = {}  # seq -> (writer, time_ns)
        corrupt, misplaced, foreign = [], 0, 0
        index = 0
        while index < slots:
            view = dev.read_blocks(index, min(CHUNK_BLOCKS, slots - index))
            count = len(view) // block
            for i in range(count):
                status, record = decode(view[i * block:(i + 1) * block], soak)
                if status == "ok":
                    if slot_of(record["seq"], slots) != index + i:
                        misplaced += 1
                    else:
                        found[record["seq"]] = (record["writer"], record["time_ns"])
                elif status == "corrupt":
                    corrupt.append({"slot": index + i, "seq": record["seq"], "writer": record["writer"]})
                elif status == "foreign":
                    foreign += 1
            view.release()
            if count == 0:
                break
            index += count
        result = {"device": path, "direct": dev.direct, "note": dev.note, "block": block, "slots": slots}
    finally:
        dev.close()
    result.update(summarise(found, slots, limit))
    result.update({"corrupt": len(corrupt), "corrupt_records": corrupt[:limit], "misplaced": misplaced, "foreign": foreign})
    return result


def summarise(found, slots, limit=20):
    """The contiguity summary of ``found`` (seq -> (writer, time_ns)) on a ring of ``slots``."""
    if not found:
        return {"records": 0, "max_seq": 0, "window_low": 1, "contiguous_to": 0, "segments": [], "holes": 0,
                "first_holes": [], "beyond_hole": 0}
    high = max(found)
    low = max(1, high - slots + 1)
    seq = low
    segments = []
    while seq in found:
        writer = found[seq][0]
        if segments and segments[-1]["writer"] == writer:
            segments[-1]["last"] = seq
        else:
            segments.append({"writer": writer, "first": seq, "last": seq})
        seq += 1
    contiguous = seq - 1
    holes = [s for s in range(contiguous + 1, high) if s not in found]
    return {"records": len(found), "max_seq": high, "window_low": low, "contiguous_to": contiguous,
            "segments": segments, "holes": len(holes), "first_holes": holes[:limit],
            "beyond_hole": sum(1 for s in found if s > contiguous)}


def md5(path, size=None):
    """md5 of the first ``size`` bytes (the resource size; a backing disk may be larger)."""
    dev = Device(path, buffer_blocks=CHUNK_BLOCKS)
    try:
        size = dev.size if size is None else min(size, dev.size)
        digest = hashlib.md5()
        index = 0
        while index * dev.block < size:
            view = dev.read_blocks(index, CHUNK_BLOCKS)
            take = min(len(view), size - index * dev.block)
            digest.update(view[:take])
            view.release()
            if take == 0:
                break
            index += CHUNK_BLOCKS
        return {"device": path, "size": size, "md5": digest.hexdigest(), "direct": dev.direct}
    finally:
        dev.close()


# ---------------------------------------------------------------- writer

class AckLog:
    """JSON lines, one write() each on an O_APPEND file: a start line, one line per acked seq, a stop line.

    Not fsync'd per line: a lab "crash" kills the container's processes, not the machine's page
    cache.  A line torn by a real crash is skipped by the reader.
    """

    def __init__(self, path, fsync=False):
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.fsync = fsync

    def line(self, **fields):
        os.write(self.fd, (json.dumps(fields, sort_keys=True, separators=(",", ":")) + "\n").encode())
        if self.fsync:
            os.fsync(self.fd)

    def close(self):
        os.close(self.fd)


class Stop:
    """Why the writer stops; set from a signal handler, read between records."""

    reason = None

    def on_signal(self, signum, _frame):
        self.reason = self.reason or "signal %s" % signal.Signals(signum).name


def write(args, stop=None, clock=time.time):
    """Append records until a signal, an error or a bound; returns the last acked seq."""
    stop = stop or Stop()
    log = AckLog(args.ack_log, fsync=args.ack_fsync)
    try:
        before = scan(args.device, args.soak, args.block, args.slots) if args.resume else None
        dev = Device(args.device, write=True, block=args.block)
    except OSError as exc:
        # no start line: this run wrote nothing
        log.line(event="stop", reason="error: %s" % exc, last_acked=None, t=clock())
        log.close()
        return None
    after = before["contiguous_to"] if before else args.start_seq - 1
    after_writer = before["segments"][-1]["writer"] if before and before["segments"] else None
    last = after
    slots = args.slots or dev.size // args.block
    if slots < 1:
        dev.close()
        log.line(event="stop", reason="error: %s is smaller than one block" % args.device, last_acked=last, t=clock())
        log.close()
        return last
    log.line(event="start", writer=args.writer, resource=args.resource, soak=args.soak, device=args.device,
             host=socket.gethostname(), pid=os.getpid(), direct=dev.direct, note=dev.note, block=args.block,
             slots=slots, after_seq=after, after_writer=after_writer, scan=_short(before), t=clock())
    started = clock()
    interval = 1.0 / args.rate if args.rate > 0 else 0.0
    next_at = started
    seq = after + 1
    try:
        while stop.reason is None:
            if args.max_records and seq - after > args.max_records:
                stop.reason = "max-records"
                break
            if args.max_seconds and clock() - started >= args.max_seconds:
                stop.reason = "max-seconds"
                break
            try:
                dev.write_block(slot_of(seq, slots), encode(args.soak, args.resource, args.writer, seq, time.time_ns(), args.block))
                dev.sync()
            except OSError as exc:
                stop.reason = "error: seq %d: %s" % (seq, exc)
                break
            log.line(seq=seq, t=clock())
            last = seq
            seq += 1
            next_at += interval
            while stop.reason is None and clock() < next_at:
                time.sleep(min(0.1, next_at - clock()))
    finally:
        log.line(event="stop", reason=stop.reason, last_acked=last, direct=dev.direct, note=dev.note, t=clock())
        log.close()
        dev.close()
    return last


def _short(result):
    """The scan without its long lists, for the ack log's start line."""
    if result is None:
        return None
    return dict((k, v) for k, v in result.items() if k not in ("first_holes", "corrupt_records", "segments"))


def parser():
    p = argparse.ArgumentParser(prog="recordio", description=__doc__.split("\n\n", 1)[0])
    sub = p.add_subparsers(dest="command", required=True)
    w = sub.add_parser("write", help="append records until SIGTERM/SIGINT/SIGHUP, an I/O error or a bound")
    w.add_argument("device")
    w.add_argument("--resource", required=True)
    w.add_argument("--soak", required=True, help="soak id (up to 8 characters): records of other soaks count as empty")
    w.add_argument("--writer", required=True, help="writer id (up to 16 characters), unique per run")
    w.add_argument("--ack-log", required=True)
    w.add_argument("--ack-fsync", action="store_true", help="fsync the ack log per record too")
    w.add_argument("--rate", type=float, default=5.0, help="records per second (0: as fast as acks come)")
    w.add_argument("--max-records", type=int, default=0)
    w.add_argument("--max-seconds", type=float, default=0)
    w.add_argument("--block", type=int, default=BLOCK)
    w.add_argument("--slots", type=int, default=0, help="ring size in blocks (default: the whole device)")
    w.add_argument("--no-resume", dest="resume", action="store_false", help="do not scan: start at --start-seq")
    w.add_argument("--start-seq", type=int, default=1)
    s = sub.add_parser("scan", help="print what the device holds, as JSON")
    s.add_argument("device")
    s.add_argument("--soak", required=True)
    s.add_argument("--block", type=int, default=BLOCK)
    s.add_argument("--slots", type=int, default=0)
    m = sub.add_parser("md5", help="md5 of the first SIZE bytes, as JSON")
    m.add_argument("device")
    m.add_argument("--size", type=int, default=None)
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    if args.command == "write":
        stop = Stop()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, stop.on_signal)
        last = write(args, stop)
        print(json.dumps({"last_acked": last}))
    elif args.command == "scan":
        print(json.dumps(scan(args.device, args.soak, args.block, args.slots or None), sort_keys=True))
    else:
        print(json.dumps(md5(args.device, args.size), sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The emulator's transaction-log record format (``log-NNNNNNNNN-HOST`` files).

One record per write: a fixed header, then the data.  The header carries the disk offset, the
length, the writer's Lamport stamp and a CRC32 of the data, so a replayer can tell a complete,
intact record from a torn or damaged one.  (The real module's on-disk format differs; only the
emulator reads these files.)
"""

import struct
import zlib

MAGIC = b"MEMU"
HEADER = struct.Struct(">4sHHQIIQ")  # magic, version, flags, offset, length, crc32, stamp
VERSION = 1


class LogfileError(ValueError):
    """A damaged record (bad magic or checksum)."""


def encode_record(offset, data, stamp):
    return HEADER.pack(MAGIC, VERSION, 0, offset, len(data), zlib.crc32(data), stamp) + data


def read_records(handle, start, end):
    """Yield ``(record_start, record_end, disk_offset, data)`` for complete records in [start, end)."""
    pos = start
    while pos + HEADER.size <= end:
        handle.seek(pos)
        magic, _version, _flags, offset, length, crc, _stamp = HEADER.unpack(handle.read(HEADER.size))
        if magic != MAGIC:
            raise LogfileError("bad record magic at %d" % pos)
        stop = pos + HEADER.size + length
        if stop > end:
            return  # not completely fetched (or written) yet
        data = handle.read(length)
        if zlib.crc32(data) != crc:
            raise LogfileError("checksum mismatch in record at %d" % pos)
        yield pos, stop, offset, data
        pos = stop

"""Transaction-log records (``log-NNNNNNNNN-HOST`` files) in the on-disk layout of MARS's ``lib_log``.

The trans_logger logs a write as one record per piece of at most a page (4 KiB) that does not
cross a 64 KiB region.  A record is a 48-byte header, the data and a 36-byte trailer: 84 bytes per
record, so 4 MiB written in 4 KiB blocks (or in 1 MiB blocks) make a 4,280,320-byte logfile, as
on the real module, and every ``*-pos``/``*-rest`` derived from logfile sizes matches it.
The header carries the writer's Lamport stamp, the disk offset and the length; the trailer a
sequence number and the checksum of MARS's "old md5" kind (the first 4 bytes of the data's md5),
so a replayer can tell a complete, intact record from a torn or damaged one.  Little-endian, as
the x86-64 module writes it; no compression.
"""

import hashlib
import os
import struct

PAGE_SIZE = 4096  # the largest record
REGION_SIZE = 16 * PAGE_SIZE  # no record crosses such a boundary

# start magic, format version, valid flag, record length, stamp sec, stamp nsec, disk offset,
# data length, decompressed length (0: not compressed), spare, code, spare
HEADER = struct.Struct("<QBBhqqqhhihh")
# end magic, old-style checksum, valid flag copy, spare, checksum kind, sequence number, new-style checksum
TRAILER = struct.Struct("<QIBBHI16s")
OVERHEAD = HEADER.size + TRAILER.size
START_MAGIC = 0xA8F7E908D9177957
END_MAGIC = 0x74941FB74AB5726D
FORMAT_VERSION = 1
CODE_WRITE_NEW = 1  # records of other codes carry no data to replay
CHECKSUM_MD5_OLD = 1
NSEC = 1000000000


class LogfileError(ValueError):
    """A damaged record (bad magic, flag or checksum) at ``pos``, the first byte replay cannot pass."""

    def __init__(self, message, pos):
        super().__init__(message)
        self.pos = pos


def _old_md5(data):
    return struct.unpack_from("<I", hashlib.md5(data).digest())[0]


def pieces(offset, length):
    """``(offset, length)`` of the records one write becomes."""
    end = offset + length
    while offset < end:
        stop = min(end, offset + PAGE_SIZE, (offset // REGION_SIZE + 1) * REGION_SIZE)
        yield offset, stop - offset
        offset = stop


def encode_record(offset, data, stamp_ns, seq_nr):
    sec, nsec = divmod(stamp_ns, NSEC)
    header = HEADER.pack(START_MAGIC, FORMAT_VERSION, 1, len(data) + OVERHEAD, sec, nsec, offset, len(data),
                         0, 0, CODE_WRITE_NEW, 0)
    return header + data + TRAILER.pack(END_MAGIC, _old_md5(data), 1, 0, CHECKSUM_MD5_OLD, seq_nr, bytes(16))


def encode_write(offset, data, stamp_ns, seq_nr):
    """The records of one write; ``seq_nr`` is the logfile's last record number.

    Returns ``(bytes, the new last record number)``; a logfile's records count from 1.
    """
    view = memoryview(data)
    records = []
    for start, length in pieces(offset, len(data)):
        seq_nr += 1
        records.append(encode_record(start, bytes(view[start - offset:start - offset + length]), stamp_ns, seq_nr))
    return b"".join(records), seq_nr


def append(handle, data):
    """Append to an open logfile and leave its mtime as it was.

    The module's writes and fetches do not touch a logfile's mtime: it stays the time the file
    was created (recorded on the real module, A07), and marsadm's log-rotate and log-delete judge
    a logfile's age by it.
    """
    before = os.fstat(handle.fileno())
    handle.write(data)
    handle.flush()
    os.utime(handle.fileno(), ns=(before.st_atime_ns, before.st_mtime_ns))


def read_records(handle, start, end):
    """Yield ``(record_start, record_end, disk_offset, data)`` for complete records in [start, end)."""
    pos = start
    while pos + OVERHEAD <= end:
        handle.seek(pos)
        (magic, version, valid, total, _sec, _nsec, offset, length, _decompressed, _spare, code,
         _spare2) = HEADER.unpack(handle.read(HEADER.size))
        if magic != START_MAGIC or version != FORMAT_VERSION:
            raise LogfileError("bad record magic at %d" % pos, pos)
        if not valid or total != length + OVERHEAD:
            raise LogfileError("invalid record at %d" % pos, pos)
        stop = pos + total
        if stop > end:
            return  # not completely fetched (or written) yet
        data = handle.read(length)
        end_magic, old_crc, valid_copy, _spare, kind, _seq_nr, _crc = TRAILER.unpack(handle.read(TRAILER.size))
        if end_magic != END_MAGIC or valid_copy != 1:
            raise LogfileError("bad record end at %d" % pos, pos)
        if kind != CHECKSUM_MD5_OLD or old_crc != _old_md5(data):
            raise LogfileError("checksum mismatch in record at %d" % pos, pos)
        if code == CODE_WRITE_NEW:
            yield pos, stop, offset, data
        pos = stop

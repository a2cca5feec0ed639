"""The /proc/sys/mars stand-in: a directory of plain files, plus ``trigger``.

Names, modes and default values are those of the real module (recorded in
traces/real-mars-A/A02-start-procsys.*).  The real module handles every write() to ``trigger`` on
its own (marsadm: ``echo -n CODE > trigger``, one write each).  As root, ``trigger`` is a FUSE file
(``triggerfs``) that keeps those boundaries.  Elsewhere it is a FIFO: codes arrive in order,
but writes that arrive together are read together and must be split apart by guessing.
``lamport_clock`` is rewritten continuously because marsadm takes its clock from it.
"""

import asyncio
import logging
import os
import shutil
import stat

from marsemu.common import format_stamp
from marsemu.kernel import triggerfs

LOG = logging.getLogger(__name__)

BUILDTAG = "marsemu-0.1astable177"
VERSION_TEXT = BUILDTAG + " (georep-mars-emulator) production"

# (name, value) as the real module shows them; writable unless listed in READ_ONLY.
DEFAULTS = (
    ('additional_peers_running', '0'),
    ('additional_peers_to_run', '3'),
    ('alive_window', '30'),
    ('client_abort', '10'),
    ('client_info_timeout', '0'),
    ('client_receiver_count', '0'),
    ('client_sender_count', '0'),
    ('copy_read_max_fly', '32768'),
    ('copy_read_prio', '0'),
    ('copy_strict_write_order', '1'),
    ('copy_timeout', '180'),
    ('copy_write_max_fly', '32768'),
    ('copy_write_prio', '0'),
    ('do_fast_fullsync', '1'),
    ('handler_dent_limit', '2'),
    ('handler_dent_retry', '5'),
    ('handler_limit', '512'),
    ('io_flying_count', '0'),
    ('io_tuning/bio_io_r_factor_percent', '10'),
    ('io_tuning/bio_io_r_max_ms', '0'),
    ('io_tuning/bio_io_r_plus_us', '10000'),
    ('io_tuning/bio_io_r_threshold_us', '40000'),
    ('io_tuning/bio_io_r_triggered', '0'),
    ('io_tuning/bio_io_r_true_hit', '0'),
    ('io_tuning/bio_io_w_factor_percent', '10'),
    ('io_tuning/bio_io_w_max_ms', '0'),
    ('io_tuning/bio_io_w_plus_us', '10000'),
    ('io_tuning/bio_io_w_threshold_us', '100000'),
    ('io_tuning/bio_io_w_triggered', '0'),
    ('io_tuning/bio_io_w_true_hit', '0'),
    ('io_tuning/bio_nr_requests', '1024'),
    ('io_tuning/bio_submit_factor_percent', '100'),
    ('io_tuning/bio_submit_max_ms', '0'),
    ('io_tuning/bio_submit_plus_us', '0'),
    ('io_tuning/bio_submit_threshold_us', '250'),
    ('io_tuning/bio_submit_triggered', '0'),
    ('io_tuning/bio_submit_true_hit', '0'),
    ('io_tuning/global_io_factor_percent', '100'),
    ('io_tuning/global_io_max_ms', '0'),
    ('io_tuning/global_io_plus_us', '0'),
    ('io_tuning/global_io_threshold_us', '30000000'),
    ('io_tuning/global_io_triggered', '0'),
    ('io_tuning/global_io_true_hit', '0'),
    ('io_tuning/if_io_acct', '1'),
    ('io_tuning/if_nr_requests', '1024'),
    ('io_tuning/writeback_maxdelay_ms', '0'),
    ('io_tuning/writeback_maxwindow_ms', '0'),
    ('io_tuning/writeback_minwindow_ms', '0'),
    ('io_tuning/writeback_rate_kb', '0'),
    ('io_tuning/writeback_rate_ops', '0'),
    ('io_tuning/writeback_ratelimit_kb', '0'),
    ('io_tuning/writeback_ratelimit_ops', '0'),
    ('io_tuning/writeback_total_kb', '0'),
    ('io_tuning/writeback_total_ops', '0'),
    ('io_tuning/writeback_until_percent', '30'),
    ('logger_allow_compress', '1'),
    ('logger_completion_semantics', '1'),
    ('logger_disable_pressure', '0'),
    ('logger_max_interleave', '-1'),
    ('logger_mem_used_kb', '0'),
    ('logger_pressure_limit', '0'),
    ('logger_replay_timeout_sec', '1'),
    ('logger_report_interval_s', '2'),
    ('logger_resume', '1'),
    ('logger_writeback_maxage_s', '900'),
    ('logrot_auto_gb', '32'),
    ('mapfree_grace_keep_mb', '16'),
    ('mapfree_period_sec', '10'),
    ('mars_emergency_mode', '0'),
    ('mars_keep_msg_s', '10'),
    ('mars_port', '7777'),
    ('mars_reset_emergency', '1'),
    ('max_lamport_future', '2592000'),
    ('mem_alloc_count', '0\t64\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0'),
    ('mem_alloc_max', '0\t64\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0'),
    ('mem_allow_freelist', '1'),
    ('mem_freelist_max', '0\t64\t0\t1\t0\t64\t0\t1\t0\t0\t0\t0'),
    ('mem_limit_gb', '16'),
    ('mem_limit_percent', '20'),
    ('mem_used_raw_kb', '9504'),
    ('min_update_seconds', '10'),
    ('network_io_timeout', '30'),
    ('parallel_bulk_feed', '16'),
    ('parallel_connections', '2'),
    ('peer_abort', '7'),
    ('propagate_interval_sec', '5'),
    ('remaining_space_kb', '30471336'),
    ('required_free_space_1_gb', '2'),
    ('required_free_space_2_gb', '2'),
    ('required_free_space_3_gb', '2'),
    ('required_free_space_4_gb', '2'),
    ('required_total_space_0_gb', '12'),
    ('scan_interval_sec', '5'),
    ('server_callback_count', '0'),
    ('server_handler_count', '0'),
    ('sync_flip_interval_sec', '60'),
    ('sync_limit', '0'),
    ('sync_nr', '0'),
    ('tcp_tuning_0_meta_traffic/ip_tos', '16'),
    ('tcp_tuning_0_meta_traffic/tcp_keepcnt', '3'),
    ('tcp_tuning_0_meta_traffic/tcp_keepidle', '4'),
    ('tcp_tuning_0_meta_traffic/tcp_keepintvl', '3'),
    ('tcp_tuning_0_meta_traffic/tcp_nodelay', '0'),
    ('tcp_tuning_0_meta_traffic/tcp_timeout', '2'),
    ('tcp_tuning_0_meta_traffic/tcp_window_size', '0'),
    ('tcp_tuning_1_replication_traffic/ip_tos', '4'),
    ('tcp_tuning_1_replication_traffic/tcp_keepcnt', '3'),
    ('tcp_tuning_1_replication_traffic/tcp_keepidle', '4'),
    ('tcp_tuning_1_replication_traffic/tcp_keepintvl', '3'),
    ('tcp_tuning_1_replication_traffic/tcp_nodelay', '0'),
    ('tcp_tuning_1_replication_traffic/tcp_timeout', '2'),
    ('tcp_tuning_1_replication_traffic/tcp_window_size', '0'),
    ('tcp_tuning_2_sync_traffic/ip_tos', '2'),
    ('tcp_tuning_2_sync_traffic/tcp_keepcnt', '3'),
    ('tcp_tuning_2_sync_traffic/tcp_keepidle', '4'),
    ('tcp_tuning_2_sync_traffic/tcp_keepintvl', '3'),
    ('tcp_tuning_2_sync_traffic/tcp_nodelay', '0'),
    ('tcp_tuning_2_sync_traffic/tcp_timeout', '2'),
    ('tcp_tuning_2_sync_traffic/tcp_window_size', '0'),
    ('traffic_tuning/client_role_traffic_maxdelay_ms', '0'),
    ('traffic_tuning/client_role_traffic_maxwindow_ms', '0'),
    ('traffic_tuning/client_role_traffic_minwindow_ms', '0'),
    ('traffic_tuning/client_role_traffic_rate_kb', '0'),
    ('traffic_tuning/client_role_traffic_rate_ops', '0'),
    ('traffic_tuning/client_role_traffic_ratelimit_kb', '0'),
    ('traffic_tuning/client_role_traffic_ratelimit_ops', '0'),
    ('traffic_tuning/client_role_traffic_total_kb', '0'),
    ('traffic_tuning/client_role_traffic_total_ops', '0'),
    ('traffic_tuning/server_role_traffic_maxdelay_ms', '0'),
    ('traffic_tuning/server_role_traffic_maxwindow_ms', '5000'),
    ('traffic_tuning/server_role_traffic_minwindow_ms', '1000'),
    ('traffic_tuning/server_role_traffic_rate_kb', '0'),
    ('traffic_tuning/server_role_traffic_rate_ops', '0'),
    ('traffic_tuning/server_role_traffic_ratelimit_kb', '0'),
    ('traffic_tuning/server_role_traffic_ratelimit_ops', '0'),
    ('traffic_tuning/server_role_traffic_total_kb', '0'),
    ('traffic_tuning/server_role_traffic_total_ops', '0'),
    ('write_throttle_end_percent', '90'),
    ('write_throttle_maxdelay_ms', '0'),
    ('write_throttle_maxwindow_ms', '0'),
    ('write_throttle_minwindow_ms', '0'),
    ('write_throttle_rate_kb', '0'),
    ('write_throttle_rate_ops', '0'),
    ('write_throttle_ratelimit_kb', '10000'),
    ('write_throttle_ratelimit_ops', '0'),
    ('write_throttle_size_threshold_kb', '0'),
    ('write_throttle_start_percent', '0'),
    ('write_throttle_total_kb', '0'),
    ('write_throttle_total_ops', '0'),
    ('zlib_compress_level', '3'),
)

READ_ONLY = frozenset((
    "client_receiver_count", "client_sender_count", "io_flying_count", "logger_mem_used_kb",
    "mars_port", "mem_alloc_count", "mem_alloc_max", "mem_freelist_max", "mem_used_raw_kb",
    "remaining_space_kb", "server_callback_count", "server_handler_count", "sync_nr",
    "additional_peers_running",
))


class ProcSys:
    """Creates, updates and removes the emulated /proc/sys/mars of one host."""

    def __init__(self, paths, clock, port):
        self.paths = paths
        self.clock = clock
        self.port = port
        self.root = paths.procsys
        self._trigger_fd = None  # the FIFO
        self._trigger_fuse = None

    def create(self):
        """"Load the module": build the directory; a stale one from a crashed run is replaced."""
        trigger = os.path.join(self.root, "trigger")
        if triggerfs.unmount(trigger):
            LOG.warning("removed the trigger mount a crashed run left on %s", trigger)
        if os.path.lexists(self.root):
            shutil.rmtree(self.root, ignore_errors=True)
        os.makedirs(self.root, mode=0o555)
        for name, value in DEFAULTS:
            if name == "mars_port":
                value = str(self.port)
            self._write(name, value, 0o444 if name in READ_ONLY else 0o644)
        self._write("version", VERSION_TEXT, 0o400)
        self._write("info", "SUMMARY: brick_count=0 dent_count=0 ", 0o444)
        self._create_trigger(trigger)
        self.update_clock()

    def _create_trigger(self, trigger):
        os.close(os.open(trigger, os.O_WRONLY | os.O_CREAT, 0o200))  # the mount point
        fuse = triggerfs.TriggerFile(trigger)
        try:
            fuse.mount()
        except OSError as exc:
            os.unlink(trigger)
            os.mkfifo(trigger, 0o200)
            # O_RDWR: we are a writer ourselves, so reads never see EOF and writers never block
            self._trigger_fd = os.open(trigger, os.O_RDWR | os.O_NONBLOCK)
            LOG.info("trigger %s is a FIFO (no FUSE: %s): writes that arrive together are split by guessing", trigger, exc)
            return
        self._trigger_fuse = fuse
        LOG.info("trigger %s is a FUSE file: one trigger per write()", trigger)

    def remove(self):
        """"Unload the module"."""
        if self._trigger_fuse is not None:
            self._trigger_fuse.close()
            self._trigger_fuse = None
        if self._trigger_fd is not None:
            os.close(self._trigger_fd)
            self._trigger_fd = None
        shutil.rmtree(self.root, ignore_errors=True)

    def _write(self, name, value, mode=0o644):
        path = os.path.join(self.root, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = os.path.join(os.path.dirname(path), ".tmp." + os.path.basename(name))
        with open(tmp, "w", encoding="ascii") as handle:
            handle.write(value + "\n")
        os.chmod(tmp, mode)
        os.rename(tmp, path)

    def update_clock(self):
        real = self.clock.real_ns()
        lamport = self.clock.peek()
        self.clock.calls += 1
        self._write("lamport_clock", "CURRENT_TIME=%s\nlamport_now=%s\nCALLS=%d" % (
            format_stamp(real), format_stamp(lamport), self.clock.calls), 0o400)

    def set_value(self, name, value):
        """Publish a value the daemon computes (e.g. ``sync_nr``)."""
        path = os.path.join(self.root, name)
        mode = stat.S_IMODE(os.stat(path).st_mode) if os.path.exists(path) else 0o444
        self._write(name, str(value), mode)

    def get_int(self, name, default):
        """A tunable as the operator set it, or ``default``."""
        try:
            with open(os.path.join(self.root, name), encoding="ascii") as handle:
                return int(handle.read().split()[0])
        except (OSError, ValueError, IndexError):
            return default

    async def read_triggers(self, handler):
        """Call ``handler(code)`` for every trigger write, in order, until cancelled."""
        loop = asyncio.get_running_loop()
        ready = asyncio.Event()
        fuse = self._trigger_fuse
        fd = fuse.fd if fuse else self._trigger_fd
        loop.add_reader(fd, ready.set)
        try:
            while True:
                await ready.wait()
                ready.clear()
                if fuse:
                    if not fuse.serve_ready(lambda data: _call(handler, one_write_code(data))):
                        LOG.error("trigger %s was unmounted: no more triggers", fuse.path)
                        return
                    continue
                try:
                    data = os.read(fd, 65536)
                except BlockingIOError:
                    continue
                for code in split_trigger_codes(data.decode("ascii", "replace")):
                    _call(handler, code)
        finally:
            loop.remove_reader(fd)


def _call(handler, code):
    try:
        handler(code)
    except Exception:  # pylint: disable=broad-exception-caught
        # a bad code must not stop the "module"
        LOG.exception("trigger %r failed", code)


def one_write_code(data):
    """The code of one write(), as the kernel's ``proc_dostring`` keeps it: up to a newline or NUL, one page at most."""
    return data[:4095].decode("ascii", "replace").replace("\0", "\n").split("\n")[0]


# Fields after the letter of each command (marsadm:4534-4542): a command ends after them, so
# "p PEER SRC DST" followed at once by "3" (two writes read together) is not one longer path.
TRIGGER_FIELDS = {"p": 3, "P": 4, "c": 3, "f": 3, "t": 1}


def split_trigger_codes(text):
    """Split what several quick ``echo -n`` writes left in the pipe back into single codes.

    Each write is atomic in a pipe, but two may arrive before one read: a numeric code is cut
    off where its digits end ("3p a b c" is "3" then "p a b c"); a letter command takes its
    fixed number of fields, and what follows the last field directly ("...ip-h33") is split
    off only when the command ended with a newline; an unknown letter takes the rest.
    """
    codes = []
    for part in text.replace("\0", "\n").split("\n"):
        part = part.strip()
        while part:
            if part[0].isdigit():
                num = ""
                while part and part[0].isdigit():
                    num += part[0]
                    part = part[1:]
                codes.append(num)
                part = part.strip()
                continue
            fields = part.split()
            count = TRIGGER_FIELDS.get(fields[0])
            if count is None or len(fields) <= count + 1:
                codes.append(part)
                part = ""
            else:
                codes.append(" ".join(fields[:count + 1]))
                part = " ".join(fields[count + 1:])
    return codes

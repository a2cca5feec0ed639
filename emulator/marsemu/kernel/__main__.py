"""``python3 -m marsemu.kernel``: run the emulated MARS kernel side of one host.

Running means "module loaded" (/proc/sys/mars exists); SIGTERM/SIGINT unloads it.
"""

import argparse
import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import time

from marsemu.common import Paths, hostname
from marsemu.kernel.clock import LamportClock
from marsemu.kernel.daemon import Kernel


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python3 -m marsemu.kernel", description=__doc__)
    parser.add_argument("--root", default=None, help="prefix for /mars, /proc/sys/mars, /dev/mars (default: $MARS_EMU_ROOT or /)")
    parser.add_argument("--hostname", default=None, help="MARS host name (default: $MARS_EMU_HOSTNAME or uname -n)")
    parser.add_argument("--listen-ip", default="0.0.0.0", help="address to listen on and to send from")
    parser.add_argument("--port", type=int, default=7777, help="base port: meta, +1 logfiles, +2 sync (like mars_port=)")
    parser.add_argument("--scan-interval", type=float, default=1.0, help="seconds between main-loop passes")
    parser.add_argument("--fetch-interval", type=float, default=1.0, help="seconds between pulls of each peer's tree")
    parser.add_argument("--primary-delay", type=float, default=2.0, help="seconds after load before becoming primary")
    parser.add_argument("--net-timeout", type=float, default=5.0, help="seconds before a silent peer counts as cut off")
    parser.add_argument("--sync-rate", type=int, default=0, help="full-sync rate limit in KiB/s (0: unlimited)")
    parser.add_argument("--write-path", choices=("auto", "fuse", "none"), default="auto",
                        help="log writes to /dev/mars/RES through FUSE (auto: if pyfuse3 is installed)")
    parser.add_argument("--clock-offset", type=float, default=0.0, help="skew this host's clock (tests)")
    parser.add_argument("--require-mountpoint", action="store_true", help="refuse to load unless /mars is a mountpoint")
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    paths = Paths(args.root)
    if args.require_mountpoint and subprocess.run(["mountpoint", "-q", paths.mars], check=False).returncode != 0:
        sys.stderr.write("%s is no mountpoint: mount it first (the real module refuses to load)\n" % paths.mars)
        return 1
    offset_ns = int(args.clock_offset * 1e9)
    clock = LamportClock(lambda: time.time_ns() + offset_ns) if offset_ns else LamportClock()
    kernel = Kernel(paths=paths, host=args.hostname or hostname(), listen_ip=args.listen_ip, port=args.port,
                    clock=clock, scan_interval=args.scan_interval, fetch_interval=args.fetch_interval,
                    primary_delay=args.primary_delay, net_timeout=args.net_timeout, sync_rate_kib=args.sync_rate,
                    write_path=args.write_path)
    return asyncio.run(_serve(kernel))


def sd_notify(state):
    """Tell systemd (Type=notify) that the "module" is loaded; a no-op outside systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.sendto(state.encode(), address)


async def _serve(kernel):
    task = asyncio.create_task(kernel.run())
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    ready = asyncio.create_task(kernel.ready.wait())
    await asyncio.wait((task, ready), return_when=asyncio.FIRST_COMPLETED)
    if kernel.ready.is_set():
        sd_notify("READY=1")
    ready.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    except (RuntimeError, OSError) as exc:
        sys.stderr.write("mars emulator on %s: %s\n" % (kernel.host, exc))
        return 1
    return 0


if __name__ == "__main__":
    os.umask(0o077)
    sys.exit(main())

"""Hold packets from an NFQUEUE for a fixed time: link latency without ``sch_netem``.

Usage: ``nfq_delay.py QUEUE DELAY_MS``.  Packets leave in the order they came.
"""

import collections
import select
import socket
import sys
import time

from netfilterqueue import NetfilterQueue


def main():
    queue_num, delay = int(sys.argv[1]), float(sys.argv[2]) / 1000.0
    held = collections.deque()

    def hold(packet):
        packet.retain()
        held.append((time.monotonic() + delay, packet))

    queue = NetfilterQueue()
    queue.bind(queue_num, hold, max_len=65536)
    sock = socket.fromfd(queue.get_fd(), socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        while True:
            wait = max(0.0, held[0][0] - time.monotonic()) if held else None
            if select.select([sock], [], [], wait)[0]:
                queue.run(block=False)
            now = time.monotonic()
            while held and held[0][0] <= now:
                held.popleft()[1].accept()
    finally:
        for _due, packet in held:
            packet.accept()
        queue.unbind()


if __name__ == "__main__":
    main()

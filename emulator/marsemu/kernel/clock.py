"""The Lamport clock every link stamp comes from."""

import time


class LamportClock:
    """Real time, but never behind any stamp seen so far, and strictly increasing per call.

    ``time_ns`` is injectable so that tests can drive or skew a host's clock.
    """

    def __init__(self, time_ns=time.time_ns):
        self._time_ns = time_ns
        self._last = 0
        self.calls = 0

    def real_ns(self):
        """The host's own clock (MARS: CURRENT_TIME)."""
        return self._time_ns()

    def peek(self):
        """The Lamport time without consuming a stamp (MARS: lamport_now)."""
        return max(self._time_ns(), self._last)

    def now(self):
        """A fresh stamp, larger than every stamp handed out or witnessed before."""
        self.calls += 1
        stamp = max(self._time_ns(), self._last + 1)
        self._last = stamp
        return stamp

    def witness(self, stamp):
        """A stamp seen on a peer: our clock must not fall behind it (Lamport's rule)."""
        if stamp > self._last:
            self._last = stamp

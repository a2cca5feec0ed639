"""The one way tests wait: poll a condition until it holds, fail with what was awaited.

A test never sleeps and then asserts that something is absent or done; it waits for a
positive condition with a bound, so a broken system fails the test instead of passing it.
"""

import time


def wait_until(predicate, timeout=60.0, what="condition", interval=0.5, max_interval=None):
    """Call PREDICATE until it returns something true and return that; fail after TIMEOUT seconds.

    With MAX_INTERVAL the pause grows by half after each miss, up to MAX_INTERVAL: for predicates
    that cost real work (commands on lab hosts), a quick condition is still seen at once and a
    long wait does not burn the machine's cores."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timeout after %.1f s waiting for %s" % (timeout, what))
        time.sleep(interval)
        if max_interval is not None:
            interval = min(interval * 1.5, max_interval)

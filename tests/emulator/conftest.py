"""Fixtures shared by the emulated-kernel tests."""

import pytest

from kernel_cluster import EmuCluster, replayed_everything, wait_until
from test_kernel_roles import SIZE, make_disk


@pytest.fixture(name="synced")
def fixture_synced(tmp_path):
    """h1 primary of r1, h2 and h3 synced, 64 blocks written and replayed everywhere."""
    cluster = EmuCluster(str(tmp_path), 3)
    cluster.start()
    try:
        cluster.form()
        h1, h2, h3 = cluster.hosts
        for host in cluster.hosts:
            host.disk = make_disk(str(tmp_path / ("disk-" + host.name)), pattern=host.name.encode())
        h1.create_resource("r1", h1.disk, SIZE)
        wait_until(lambda: h1.indicator("r1", "is-primary") == "1", timeout=5, what="primary")
        for host in (h2, h3):
            wait_until(lambda h=host: h.res("r1", "replay-h1"), what="resource on %s" % host.name)
            host.join_resource("r1", host.disk, h1)
        for host in (h2, h3):
            wait_until(lambda h=host: h.res("r1", "syncstatus-" + h.name) == str(SIZE), timeout=20, what="sync")
        for block in range(16):
            h1.write("r1", block * 65536, bytes([block + 1]) * 8192)
        for host in (h2, h3):
            wait_until(lambda h=host: replayed_everything(h, h1) and h1.res("r1", "replay-h1") != "log-000000001-h1,0,0",
                       timeout=10, what="%s to replay" % host.name)
        yield cluster
    finally:
        cluster.stop()

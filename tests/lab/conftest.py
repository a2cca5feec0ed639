"""Fixtures for tests on the Podman lab (``make lab-up`` first; ``make test`` does it)."""

import os

import pytest

from labhelpers import HOSTS, labctl


def pytest_collection_modifyitems(items):
    for item in items:
        item.add_marker(pytest.mark.lab)


@pytest.fixture(scope="session")
def lab():
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    running = {line.split()[0] for line in labctl("status").stdout.splitlines() if line.endswith(" running")}
    if not running.issuperset(HOSTS):
        labctl("up")
    return HOSTS


@pytest.fixture
def healed(lab):
    """Every fault is removed after the test, whatever happened."""
    yield lab
    labctl("heal")
    for host in lab:
        labctl("thaw", host, check=False)
    labctl("up")

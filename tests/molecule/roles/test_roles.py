"""Verifier of the Molecule scenario 'roles' (molecule/roles): what converge left on mol1..3.

mol1 and mol2 built the DKMS fixture (a MARS-shaped hello-world module) for the kernel whose
headers the image has; the containers run the machine's kernel, so the module is installed
but never loaded. mol3 has the emulator backend. The firewall lets only mol1 and mol2 in.
"""

import os
import re

import pytest
import testinfra
from polling import wait_until

pytestmark = pytest.mark.skipif(os.environ.get("MOLECULE_SCENARIO_NAME", "roles") != "roles",
                                reason="belongs to the Molecule scenario 'roles'")

INVENTORY = os.environ.get("MOLECULE_INVENTORY_FILE", "")
PEERS = ("mol1", "mol2")
HOSTS = ("mol1", "mol2", "mol3")
IPS = {"mol1": "10.78.0.11", "mol2": "10.78.0.12", "mol3": "10.78.0.13"}


def host(name):
    return testinfra.get_host("ansible://%s?ansible_inventory=%s" % (name, INVENTORY))


def headers_kernel(node):
    return sorted(node.check_output("ls -d /lib/modules/*/build | cut -d/ -f4").split())[-1]


@pytest.mark.parametrize("name", PEERS)
def test_dkms_installed_the_fixture_for_the_kernel_with_headers(name):
    node = host(name)
    kernel = headers_kernel(node)
    status = node.check_output("dkms status -m mars")
    assert re.search(r"^mars/0\.1fixture1, %s, [^:]+: installed" % re.escape(kernel), status, re.M), status
    assert node.check_output("modinfo -k %s -F version mars" % kernel) == "0.1fixture1"
    assert node.file("/lib/modules/%s/updates/dkms/mars.ko" % kernel).exists
    conf = node.file("/usr/src/mars-0.1fixture1/dkms.conf").content_string
    assert 'MAKE[0]="cd kernel && make KDIR=/lib/modules/${kernelver}/build MARSVERSION=0.1fixture1"' in conf
    # The build tag reached the module, and nothing was loaded (the role installs only).
    assert not node.file("/etc/modules-load.d/mars.conf").exists
    assert "georep.mars DKMS fixture" in node.check_output("marsadm version")


def test_emulator_backend_installed_the_emulator():
    node = host("mol3")
    assert node.file("/usr/lib/georep-mars-emulator/marsemu/common.py").exists
    marsadm = node.file("/usr/sbin/marsadm")
    assert marsadm.mode == 0o755
    assert "marsemu.marsadm" in marsadm.content_string
    assert not node.run("dkms status -m mars").stdout.strip()


@pytest.mark.parametrize("name", HOSTS)
def test_storage_made_and_mounted_ext4_with_mode_0700(name):
    node = host(name)
    mount = node.mount_point("/srv/roles-test-mars")
    assert mount.exists and mount.filesystem == "ext4"
    assert re.match(r"^/dev/loop[0-9]+$", mount.device)
    assert node.file("/srv/roles-test-mars").mode == 0o700
    assert node.file("/mars").mode == 0o700
    assert "/srv/roles-test-mars ext4" in node.file("/etc/fstab").content_string
    assert node.file("/var/lib/georep-mars/disks/roles-test-fs.img").size == 1 << 30


def connect(src, dst, port=7779):
    """Open a TCP connection from src to dst:port; return 'accepted', 'refused' or 'timeout'."""
    code = ("import socket,sys\n"
            "try:\n"
            "    s=socket.create_connection(('%s',%d),timeout=10); print('accepted', s.recv(64).decode())\n"
            "except ConnectionRefusedError: print('refused')\n"
            "except OSError: print('timeout')\n") % (IPS[dst], port)
    return host(src).check_output("python3 -c %s" % _quote(code))


def _quote(text):
    return "'" + text.replace("'", "'\\''") + "'"


@pytest.fixture
def listener_on_mol2():
    node = host("mol2")
    code = ("import socket\n"
            "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1); s.bind(('0.0.0.0',7779)); s.listen(8)\n"
            "s.settimeout(30)\n"
            "while True:\n"
            "    c,a=s.accept(); c.sendall(('hi '+a[0]).encode()); c.close()\n")
    node.run("systemd-run --unit roles-test-listener --collect python3 -c %s" % _quote(code))
    wait_until(lambda: node.socket("tcp://0.0.0.0:7779").is_listening,
               what="the test listener on mol2:7779", max_interval=2.0)
    yield
    node.run("systemctl stop roles-test-listener")


@pytest.mark.usefixtures("listener_on_mol2")
def test_firewall_accepts_peers_and_refuses_others():
    assert connect("mol1", "mol2") == "accepted hi 10.78.0.11"
    assert connect("mol3", "mol2") == "refused"


@pytest.mark.parametrize("name", HOSTS)
def test_firewall_table_survives_the_bad_peer_attempt(name):
    rules = host(name).check_output("nft list table inet georep_mars")
    assert "10.78.0.11" in rules and "10.78.0.12" in rules and "10.78.0.13" not in rules
    assert "reject with tcp reset" in rules
    assert host(name).service("georep-mars-firewall.service").is_enabled


@pytest.mark.parametrize("name", HOSTS)
def test_monitoring_writes_the_textfile(name):
    node = host(name)
    assert node.service("georep-mars-metrics.timer").is_running
    prom = node.file("/var/lib/prometheus/node-exporter/mars.prom")
    wait_until(lambda: prom.exists, what="%s's first metrics textfile" % name, max_interval=2.0)
    assert prom.mode == 0o644
    assert re.search(r'^mars_up\{host="%s"\} [01]$' % name, prom.content_string, re.M)
    assert "# TYPE mars_fs_avail_bytes gauge" in prom.content_string


@pytest.mark.parametrize("name", HOSTS)
def test_housekeeping_timers_and_space_status(name):
    node = host(name)
    for timer in ("georep-mars-cron.timer", "georep-mars-space-check.timer"):
        assert node.service(timer).is_enabled and node.service(timer).is_running
    status = node.file("/run/georep-mars/space.status").content_string
    assert "level=ok" in status and "used_percent=" in status
    cron = node.file("/etc/systemd/system/georep-mars-cron.service").content_string
    assert "ExecStart=/usr/sbin/marsadm cron" in cron and "ConditionPathExists=/mars/uuid" in cron


def test_loading_the_emulator_started_it_and_set_the_tunables():
    node = host("mol3")
    assert node.service("mars-emulator.service").is_running
    assert node.service("mars-emulator.service").is_enabled
    assert node.file("/proc/sys/mars/sync_limit").content_string.strip() == "2"
    assert node.file("/proc/sys/mars/alive_window").content_string.strip() == "20"
    assert node.file("/proc/sys/mars/version").exists

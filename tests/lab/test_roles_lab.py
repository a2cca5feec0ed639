"""The infrastructure roles on the shared lab hosts (inventories/lab), with real effects.

Everything a test makes is named roles-lab-* (or uses mars1's /dev/vde) and is removed again:
other engineers use the same hosts. The lab kernel has no headers and lab hosts cannot load
modules, so the DKMS test builds for the Debian kernel whose headers are in the image and checks
that DKMS reports the module installed for that kernel; it is never loaded.
"""

import os
import socket
import subprocess
import textwrap

import pytest

from labhelpers import COLLECTIONS, REPO, on

PLAYBOOK_ENV = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                    ANSIBLE_COLLECTIONS_PATH=COLLECTIONS)
ANSIBLE_PLAYBOOK = os.path.join(REPO, ".venv", "bin", "ansible-playbook")
FIXTURE = os.path.join(REPO, "tests", "fixtures", "mars-dkms-fixture")


def play(tmp_path, name, text, check=True):
    """Run a playbook on the lab; return (rc, output, recap line of each host)."""
    path = tmp_path / (name + ".yml")
    path.write_text(textwrap.dedent(text))
    result = subprocess.run([ANSIBLE_PLAYBOOK, "-i", os.path.join(REPO, "inventories", "lab"), str(path)],
                            capture_output=True, text=True, env=PLAYBOOK_ENV, cwd=REPO, timeout=600, check=False)
    output = result.stdout + result.stderr
    if check and result.returncode != 0:
        raise AssertionError("%s failed (rc %d):\n%s" % (name, result.returncode, output[-4000:]))
    recap = {line.split()[0]: line for line in output.splitlines() if " : ok=" in line}
    return result.returncode, output, recap


def kernel_with_headers(host):
    return sorted(on(host, "ls -d /lib/modules/*/build | cut -d/ -f4").stdout.split())[-1]


KMOD_PLAY = """
    - name: kmod on the lab
      hosts: mars1
      gather_facts: true
      tasks:
        - name: Build the fixture
          ansible.builtin.include_role:
            name: georep.mars.kmod
          vars:
            mars_kmod_backend: dkms
            mars_kmod_source_type: directory
            mars_kmod_source_directory: %s
            mars_kmod_dkms_name: roles-lab-mars
            mars_kmod_version: 0.1roleslab1
            mars_kmod_check_kernel_range: false
            %s
            mars_kmod_install_marsadm: false
            mars_kmod_aio_max_nr: 0
"""


@pytest.fixture
def dkms_cleanup(lab):
    yield
    on("mars1", "dkms remove roles-lab-mars/0.1roleslab1 --all >/dev/null 2>&1; rm -rf /usr/src/roles-lab-mars-0.1roleslab1;"
                " rm -f /etc/modprobe.d/mars.conf", check=False)


@pytest.mark.usefixtures("dkms_cleanup")
def test_kmod_builds_with_dkms_for_the_kernel_with_headers_and_is_idempotent(tmp_path):
    kernel = kernel_with_headers("mars1")
    text = KMOD_PLAY % (FIXTURE, "mars_kmod_kernel_version: " + kernel)
    play(tmp_path, "kmod", text)
    status = on("mars1", "dkms status -m roles-lab-mars").stdout
    assert "roles-lab-mars/0.1roleslab1, %s, x86_64: installed" % kernel in status
    assert on("mars1", "modinfo -k %s -F version mars" % kernel).stdout.strip() == "0.1roleslab1"
    # The lab kernel cannot load it: it is another kernel, and containers share the machine's.
    assert kernel != on("mars1", "uname -r").stdout.strip()
    unused_rc, unused_output, recap = play(tmp_path, "kmod-again", text)
    assert "changed=0" in recap["mars1"], recap


@pytest.mark.usefixtures("dkms_cleanup")
def test_kmod_says_the_lab_kernel_has_no_headers(tmp_path):
    running = on("mars1", "uname -r").stdout.strip()
    rc, output, unused_recap = play(tmp_path, "kmod-no-headers", KMOD_PLAY % (FIXTURE, ""), check=False)
    assert rc != 0
    flat = " ".join(output.split())
    assert "The headers of kernel %s are missing on mars1" % running in flat
    assert "linux-headers-%s" % running in flat
    assert "here: %s" % kernel_with_headers("mars1") in flat
    assert not on("mars1", "dkms status -m roles-lab-mars").stdout.strip()


PACKAGE_PLAY = """
    - name: Build once on mars1
      hosts: mars1
      gather_facts: false
      tasks:
        - name: Build and pack the fixture for the kernel with headers
          ansible.builtin.include_role:
            name: georep.mars.kmod
            tasks_from: package
          vars: &fixture
            mars_kmod_backend: dkms
            mars_kmod_source_type: directory
            mars_kmod_source_directory: {fixture}
            mars_kmod_dkms_name: roles-lab-mars
            mars_kmod_version: 0.1roleslab1
            mars_kmod_check_kernel_range: false
            mars_kmod_aio_max_nr: 0
            mars_kmod_package_dir: {packages}
            mars_kmod_build_kernels: [{kernel}]
            mars_marsadm_path: /tmp/roles-lab-marsadm

    - name: Install on mars2 from the package
      hosts: mars2
      gather_facts: false
      tasks:
        - name: Install the package, never build
          ansible.builtin.include_role:
            name: georep.mars.kmod
          vars:
            <<: *fixture
            mars_kmod_kernel_version: {target_kernel}
            mars_kmod_build_missing: false
"""


@pytest.fixture
def package_cleanup(lab):
    yield
    for host in ("mars1", "mars2"):
        on(host, "dkms remove roles-lab-mars/0.1roleslab1 --all >/dev/null 2>&1; rm -rf /usr/src/roles-lab-mars-0.1roleslab1"
                 " /var/lib/georep-mars/packages /var/cache/georep-mars /tmp/roles-lab-marsadm;"
                 " dpkg -P $(dpkg-query -W -f '${Package}\\n' 'roles-lab-mars-modules-*' 2>/dev/null) >/dev/null 2>&1;"
                 " rm -f /etc/modprobe.d/mars.conf", check=False)


@pytest.mark.usefixtures("package_cleanup")
def test_kmod_builds_once_on_the_build_host_and_installs_the_package_elsewhere(tmp_path):
    """mars1 builds and packs; mars2 installs the package without DKMS; a second run changes nothing."""
    kernel = kernel_with_headers("mars1")
    packages = tmp_path / "packages"
    text = PACKAGE_PLAY.format(fixture=FIXTURE, packages=packages, kernel=kernel, target_kernel=kernel)
    play(tmp_path, "package", text)
    deb = "roles-lab-mars-modules-%s_0.1roleslab1_amd64.deb" % kernel
    assert sorted(os.listdir(packages)) == sorted([deb, "marsadm-0.1roleslab1"])
    # mars2 installed what mars1 built: the package's module, no DKMS build of its own
    assert not on("mars2", "dkms status -m roles-lab-mars").stdout.strip()
    assert on("mars2", "test -e /usr/src/roles-lab-mars-0.1roleslab1", check=False).returncode != 0
    assert on("mars2", "modinfo -k %s -F filename mars" % kernel).stdout.strip() == \
        "/lib/modules/%s/updates/georep-mars/mars.ko" % kernel
    assert on("mars2", "modinfo -k %s -F version mars" % kernel).stdout.strip() == "0.1roleslab1"
    assert "georep.mars DKMS fixture" in on("mars2", "/tmp/roles-lab-marsadm version").stdout
    unused_rc, unused_output, recap = play(tmp_path, "package-again", text)
    assert "changed=0" in recap["mars1"] and "changed=0" in recap["mars2"], recap


@pytest.mark.usefixtures("package_cleanup")
def test_kmod_names_the_missing_package_of_another_kernel(tmp_path):
    kernel = kernel_with_headers("mars1")
    packages = tmp_path / "packages"
    text = PACKAGE_PLAY.format(fixture=FIXTURE, packages=packages, kernel=kernel, target_kernel="6.1.0-999-amd64")
    rc, output, unused_recap = play(tmp_path, "package-other-kernel", text, check=False)
    flat = " ".join(output.split())
    assert rc != 0
    assert ("There is no binary package of MARS 0.1roleslab1 for kernel 6.1.0-999-amd64 of mars2 in %s" % packages) in flat
    assert not on("mars2", "dkms status -m roles-lab-mars").stdout.strip()


STORAGE_PLAY = """
    - name: storage on the lab
      hosts: mars1
      gather_facts: false
      tasks:
        - name: ext4 on /dev/vde
          ansible.builtin.include_role:
            name: georep.mars.storage
          vars:
            mars_storage_device: /dev/vde
            mars_dir: /srv/roles-lab-mars
            mars_storage_fstab: false
            %s
"""


@pytest.fixture
def vde_cleanup(lab):
    """mars1's /dev/vde is this test's disk (the brief of issue 7 reserves it): blank before and after."""
    on("mars1", "umount /srv/roles-lab-mars 2>/dev/null; wipefs -q -a /dev/vde", check=False)
    yield
    on("mars1", "umount /srv/roles-lab-mars 2>/dev/null; rmdir /srv/roles-lab-mars 2>/dev/null; wipefs -q -a /dev/vde", check=False)


@pytest.mark.usefixtures("vde_cleanup")
def test_storage_makes_ext4_and_refuses_a_disk_below_the_minimum(tmp_path):
    rc, output, unused_recap = play(tmp_path, "storage-small", STORAGE_PLAY % "", check=False)
    assert rc != 0
    assert "/dev/vde on mars1 has 1.00 GiB, but /mars needs at least 9 GiB" in " ".join(output.split())
    assert on("mars1", "blkid /dev/vde", check=False).stdout.strip() == ""  # nothing was made

    play(tmp_path, "storage", STORAGE_PLAY % "mars_storage_min_size_gib: 0.9")
    assert on("mars1", "findmnt -n -o SOURCE,FSTYPE /srv/roles-lab-mars").stdout.split() == ["/dev/vde", "ext4"]
    assert on("mars1", "stat -c %a /srv/roles-lab-mars").stdout.strip() == "700"
    unused_rc, unused_output, recap = play(tmp_path, "storage-again", STORAGE_PLAY % "mars_storage_min_size_gib: 0.9")
    assert "changed=0" in recap["mars1"], recap


FIREWALL_PLAY = """
    - name: firewall on the lab
      hosts: mars1
      gather_facts: false
      tasks:
        - name: MARS ports for the lab's hosts only
          ansible.builtin.include_role:
            name: georep.mars.firewall
          vars:
            mars_firewall_state: %s
"""

LISTENER = ("import socket,time\n"
            "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
            "try:\n    s.bind(('0.0.0.0',7779)); s.listen(8)\nexcept OSError:\n    time.sleep(30); raise SystemExit\n"
            "s.settimeout(30)\n"
            "while True:\n    c,a=s.accept(); c.close()\n")


@pytest.fixture
def firewall_cleanup(lab, tmp_path):
    yield
    play(tmp_path, "firewall-absent", FIREWALL_PLAY % "absent", check=False)
    on("mars1", "systemctl stop roles-lab-listener 2>/dev/null", check=False)


def connect_from_controller(ip, port):
    try:
        socket.create_connection((ip, port), timeout=3).close()
        return "accepted"
    except ConnectionRefusedError:
        return "refused"
    except OSError:
        return "timeout"


@pytest.mark.usefixtures("firewall_cleanup")
def test_firewall_lets_peers_in_and_refuses_the_controller(tmp_path):
    play(tmp_path, "firewall", FIREWALL_PLAY % "present")
    # If the emulator listens on 7779 already, the peer reaches it; otherwise our listener.
    on("mars1", "systemd-run --unit roles-lab-listener --collect python3 -c \"%s\"" % LISTENER.replace('"', '\\"'), check=False)
    on("mars1", "for i in $(seq 20); do ss -ltn | grep -q ':7779 ' && break; sleep 0.2; done")
    peer = on("mars2", "timeout 3 bash -c 'exec 3<>/dev/tcp/10.77.0.11/7779' && echo accepted || echo refused").stdout.strip()
    assert peer == "accepted"
    assert connect_from_controller("10.77.0.11", 7779) == "refused"
    assert "reject with tcp reset" in on("mars1", "nft list table inet georep_mars").stdout

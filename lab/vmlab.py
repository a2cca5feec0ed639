"""The georep.mars VM lab: the real MARS kernel module in qemu VMs on one machine.

N VMs (default 3 in 2 sites) boot a cached Debian bullseye image with kernel 5.10.0-30-amd64,
sshd and Python; each has a 10 GiB disk for ``/mars`` (``/dev/vdb``, left blank for the storage
role) and two data disks (``/dev/vdc``, ``/dev/vdd``).  A bullseye Podman container with DKMS,
gcc-10 and that kernel's headers is the inventory's build host (group ``mars_kmod_builders``):
it builds the module once, the VMs install the package.  This machine has no KVM, so qemu
emulates the CPU (TCG): everything is 10-20 times slower than on hardware.

All VM traffic stays in the network namespace ``georep-vm`` (bridge 10.99.0.1/24, one tap per
VM); run the controller inside it: ``nsenter --net=/run/netns/georep-vm ansible-playbook ...`` (``vmlab
exec-ns -- CMD`` does that).  Partitions are nftables rules on that bridge, so they outlive a
VM's crash and restart and never cut the controller's ssh.

The MARS sources come from ``$GEOREP_MARS_GIT`` (the git directory of a clone of
github:schoebel/mars); they are never part of this repository.

Run as root: ``python3 lab/vmlab.py COMMAND`` (``lab/vmlab`` wraps it).
"""

import argparse
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from labctl import CONTAINERS_CONF, LabError, REPO, ssh_key, to_yaml  # noqa: E402  pylint: disable=wrong-import-position

STATE_DIR = os.environ.get("GEOREP_VMLAB_STATE", "/var/lib/georep-mars-lab/vm")
MIRROR = os.environ.get("GEOREP_VMLAB_MIRROR", "http://deb.debian.org/debian")
SUITE = "bullseye"
KERNEL = "5.10.0-30-amd64"
NETNS = "georep-vm"
REQUIRED_TOOLS = ("qemu-system-x86_64", "qemu-img", "debootstrap", "podman", "nft", "mkfs.ext4")  # tools/bootstrap.sh vm
BRIDGE = "br-georep"
SUBNET = "10.99.0"
NFT_TABLE = "georep_vmlab"
BUILDER = "georep-vm-builder"
BUILDER_IMAGE = "localhost/georep-vm-builder:latest"
# /dev/vdb: /mars (MARS wants at least 9 GiB; sparse), /dev/vdc and /dev/vdd: backing disks.
DISKS = (("vdb", "10G"), ("vdc", "256M"), ("vdd", "256M"))
VM_DIR = os.path.join(REPO, "lab", "vm")
INVENTORY_DIR = os.path.join(REPO, "build", "inventories", "vm")
# The pinned commit of the branch WIP-qio-for-5.10 (the kmod role's source choice "qio-5.10").
MARS_COMMIT = "84810029d417275c32ae1290abf91446888fbbb6"
MARS_PATHS = ("COPYING", "kernel", "scripts", "userspace")


class VmLab:
    """Host i is ``vm<i>`` at 10.99.0.(10+i), MAC 52:54:00:99:00:(10+i), in site-(a|b|c)."""

    def __init__(self, hosts=3, sites=2, memory=2048, cpus=2):
        self.count, self.sites, self.memory, self.cpus = hosts, sites, memory, cpus

    @property
    def hosts(self):
        return ["vm%d" % i for i in range(1, self.count + 1)]

    def index(self, host):
        if host not in self.hosts:
            raise LabError("unknown VM '%s'; the VM lab has %s" % (host, ", ".join(self.hosts)))
        return int(host[2:])

    def ip(self, host):
        return "%s.%d" % (SUBNET, 10 + self.index(host))

    def mac(self, host):
        return "52:54:00:99:00:%02x" % (10 + self.index(host))

    def site(self, host):
        return "site-" + "abc"[(self.index(host) - 1) % self.sites]

    def members(self, name):
        """A host or a site name, as a list of hosts."""
        if name.startswith("site-"):
            found = [h for h in self.hosts if self.site(h) == name]
            if not found:
                raise LabError("unknown site '%s'" % name)
            return found
        self.index(name)
        return [name]

    def run_dir(self, host):
        return os.path.join(STATE_DIR, "run", host)


def run(argv, check=True, capture=False, quiet=False, timeout=None, netns=False):
    if netns:
        # nsenter, not 'ip netns exec': that remounts /sys, and podman (the build host) then
        # finds no cgroups.
        argv = ["nsenter", "--net=/run/netns/" + NETNS] + list(argv)
    out = subprocess.PIPE if (capture or quiet) else None
    env = dict(os.environ, CONTAINERS_CONF=CONTAINERS_CONF)  # podman's rlimits and runtime for this machine
    result = subprocess.run(argv, text=True, check=False, stdout=out, stderr=out, timeout=timeout, env=env)
    if check and result.returncode != 0:
        detail = (result.stderr or "").strip().splitlines()
        raise LabError("'%s' failed (rc %d)%s" % (" ".join(argv), result.returncode, ": " + detail[-1] if detail else ""))
    return result


def require_root_and_tools():
    if os.geteuid() != 0:
        raise LabError("the VM lab needs root (network namespace, taps, debootstrap); run it as root")
    for tool in REQUIRED_TOOLS:
        if shutil.which(tool) is None:
            raise LabError("'%s' is not installed; run 'tools/bootstrap.sh vm' first" % tool)


# ---------------------------------------------------------------- images

def read_list(name):
    with open(os.path.join(VM_DIR, name), encoding="utf-8") as handle:
        return [line.strip() for line in handle if line.strip() and not line.startswith("#")]


def recipe_digest():
    """The images are rebuilt when their recipe or the ssh key changes."""
    digest = hashlib.sha256((SUITE + KERNEL + MIRROR).encode())
    for name in sorted(os.listdir(VM_DIR)):
        with open(os.path.join(VM_DIR, name), "rb") as handle:
            digest.update(name.encode() + handle.read())
    with open(ssh_key() + ".pub", "rb") as handle:
        digest.update(handle.read())
    return digest.hexdigest()[:16]


def image_dir():
    return os.path.join(STATE_DIR, "images", recipe_digest())


def debootstrap(variant, packages, target, cache):
    os.makedirs(cache, exist_ok=True)
    shutil.rmtree(target, ignore_errors=True)
    return subprocess.Popen(["debootstrap", "--variant=" + variant, "--cache-dir=" + cache,
                             "--include=" + ",".join(packages), SUITE, target, MIRROR],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def customize_rootfs(root):
    """Plain file edits: host name from the kernel command line, networkd by MAC, root's key."""
    shutil.copy(os.path.join(VM_DIR, "hostname.service"), os.path.join(root, "etc/systemd/system/georep-hostname.service"))
    with open(os.path.join(root, "etc/hosts"), "w", encoding="ascii") as handle:
        # No 127.0.1.1 line: marsadm would take it as the node's address.
        handle.write("127.0.0.1 localhost\n%s.1 controller\n" % SUBNET)
        handle.write("".join("%s.%d vm%d\n" % (SUBNET, 10 + i, i) for i in range(1, 10)))
    os.makedirs(os.path.join(root, "etc/systemd/network"), exist_ok=True)
    for i in range(1, 10):
        with open(os.path.join(root, "etc/systemd/network/20-georep-vm%d.network" % i), "w", encoding="ascii") as handle:
            handle.write("[Match]\nMACAddress=52:54:00:99:00:%02x\n[Network]\nAddress=%s.%d/24\n"
                         "LinkLocalAddressing=no\nIPv6AcceptRA=no\n" % (10 + i, SUBNET, 10 + i))
    os.makedirs(os.path.join(root, "root/.ssh"), mode=0o700, exist_ok=True)
    shutil.copy(ssh_key() + ".pub", os.path.join(root, "root/.ssh/authorized_keys"))
    for name in os.listdir(os.path.join(root, "etc/ssh")):
        if name.startswith("ssh_host_"):
            os.unlink(os.path.join(root, "etc/ssh", name))
    os.makedirs(os.path.join(root, "etc/systemd/system/ssh.service.d"), exist_ok=True)
    shutil.copy(os.path.join(VM_DIR, "ssh-hostkeys.conf"), os.path.join(root, "etc/systemd/system/ssh.service.d/hostkeys.conf"))
    with open(os.path.join(root, "etc/ssh/sshd_config"), "a", encoding="ascii") as handle:
        handle.write("UseDNS no\n")
    with open(os.path.join(root, "etc/fstab"), "w", encoding="ascii") as handle:
        handle.write("/dev/vda / ext4 defaults,noatime 0 1\n")
    os.makedirs(os.path.join(root, "mars"), exist_ok=True)
    with open(os.path.join(root, "etc/initramfs-tools/modules"), "a", encoding="ascii") as handle:
        handle.write("virtio_pci\nvirtio_blk\next4\ncrc32c_generic\n")
    for argv in (["systemctl", "enable", "georep-hostname.service", "systemd-networkd.service"],
                 ["systemctl", "mask", "apt-daily.timer", "apt-daily-upgrade.timer", "e2scrub_reap.service",
                  "systemd-networkd-wait-online.service"],
                 ["sh", "-c", "echo root:mars | chpasswd"]):
        run(["chroot", root] + argv, quiet=True)
    run(["mount", "--bind", "/proc", os.path.join(root, "proc")])
    try:
        run(["chroot", root, "update-initramfs", "-u", "-k", KERNEL], quiet=True)
    finally:
        run(["umount", os.path.join(root, "proc")], check=False)


def build_images(force=False):
    """The VM disk image (qcow2 + kernel + initrd) and the builder's Podman image, both cached."""
    target = image_dir()
    have_builder = run(["podman", "image", "inspect", "--format", "{{ index .Labels \"georep.recipe\" }}", BUILDER_IMAGE],
                       check=False, capture=True).stdout.strip() == recipe_digest()
    if not force and os.path.exists(os.path.join(target, "base.qcow2")) and have_builder:
        return target
    started = time.time()
    work = os.path.join(STATE_DIR, "work")
    os.makedirs(work, exist_ok=True)
    print("vmlab: debootstrap of the VM image and the build host (a few minutes, cached afterwards)", flush=True)
    jobs = {}
    if force or not os.path.exists(os.path.join(target, "base.qcow2")):
        jobs["vm"] = debootstrap("minbase", read_list("packages.txt") + ["linux-image-" + KERNEL],
                                 os.path.join(work, "rootfs"), os.path.join(STATE_DIR, "cache", "vm"))
    if force or not have_builder:
        jobs["builder"] = debootstrap("buildd", read_list("builder-packages.txt") + ["linux-headers-" + KERNEL],
                                      os.path.join(work, "builder"), os.path.join(STATE_DIR, "cache", "build"))
    for name, proc in jobs.items():
        err = proc.communicate()[1]
        if proc.returncode != 0:
            raise LabError("debootstrap of the %s image failed (rc %d): %s" % (name, proc.returncode, err.strip()[-300:]))
    if "vm" in jobs:
        root = os.path.join(work, "rootfs")
        customize_rootfs(root)
        os.makedirs(target, exist_ok=True)
        for name, wanted in (("vmlinuz-" + KERNEL, "vmlinuz"), ("initrd.img-" + KERNEL, "initrd.img")):
            shutil.copy(os.path.join(root, "boot", name), os.path.join(target, wanted))
        raw = os.path.join(work, "base.raw")
        run(["mkfs.ext4", "-q", "-F", "-L", "georep-vm", "-d", root, raw, "3G"])
        run(["qemu-img", "convert", "-O", "qcow2", raw, os.path.join(target, "base.qcow2.part")])
        os.rename(os.path.join(target, "base.qcow2.part"), os.path.join(target, "base.qcow2"))
        os.unlink(raw)
        shutil.rmtree(root)
    if "builder" in jobs:
        root = os.path.join(work, "builder")
        tarball = os.path.join(work, "builder.tar")
        run(["tar", "-C", root, "-cf", tarball, "."])
        run(["podman", "import", "-q", "--change", "LABEL georep.recipe=" + recipe_digest(), tarball, BUILDER_IMAGE], quiet=True)
        os.unlink(tarball)
        shutil.rmtree(root)
    for old in os.listdir(os.path.join(STATE_DIR, "images")):
        if old != os.path.basename(target):
            shutil.rmtree(os.path.join(STATE_DIR, "images", old), ignore_errors=True)
    print("vmlab: images built in %.0f s" % (time.time() - started), flush=True)
    return target


# ---------------------------------------------------------------- MARS sources

def mars_sources():
    """The pinned MARS sources, extracted from $GEOREP_MARS_GIT (kernel/, scripts/, userspace/)."""
    git_dir = os.environ.get("GEOREP_MARS_GIT", "")
    if not git_dir:
        raise LabError("GEOREP_MARS_GIT is not set: point it at the git directory of a clone of "
                       "github:schoebel/mars (it needs commit %s of WIP-qio-for-5.10)" % MARS_COMMIT[:8])
    dest = os.path.join(STATE_DIR, "mars-src-" + MARS_COMMIT[:12])
    if os.path.exists(os.path.join(dest, "kernel", "Kbuild")):
        return dest
    if run(["git", "--git-dir", git_dir, "cat-file", "-e", MARS_COMMIT + "^{commit}"], check=False, quiet=True).returncode:
        raise LabError("%s has no commit %s (WIP-qio-for-5.10); fetch that branch" % (git_dir, MARS_COMMIT[:8]))
    tmp = tempfile.mkdtemp(dir=STATE_DIR)
    # git may complain about blobs missing from a partial clone elsewhere in the tree (docu/).
    archive = subprocess.Popen(["git", "--git-dir", git_dir, "archive", MARS_COMMIT] + list(MARS_PATHS),
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    subprocess.run(["tar", "-x", "-C", tmp], stdin=archive.stdout, check=True)
    archive.wait()
    if not os.path.exists(os.path.join(tmp, "kernel", "Kbuild")):
        raise LabError("git archive of %s in %s gave no kernel/Kbuild" % (MARS_COMMIT[:8], git_dir))
    with open(os.path.join(tmp, "DISTVERSION"), "w", encoding="ascii") as handle:
        handle.write("WIP-qio-for-5.10-%s\n" % MARS_COMMIT[:8])
    os.rename(tmp, dest)
    return dest


# ---------------------------------------------------------------- network

def net_up(lab):
    if NETNS not in run(["ip", "netns", "list"], capture=True).stdout.split():
        run(["ip", "netns", "add", NETNS])
    run(["ip", "link", "set", "lo", "up"], netns=True)
    if run(["ip", "link", "show", BRIDGE], check=False, quiet=True, netns=True).returncode:
        run(["ip", "link", "add", BRIDGE, "type", "bridge"], netns=True)
    run(["ip", "addr", "replace", SUBNET + ".1/24", "dev", BRIDGE], netns=True)
    run(["ip", "link", "set", BRIDGE, "up"], netns=True)
    for host in lab.hosts:
        tap = "tap-" + host
        if run(["ip", "link", "show", tap], check=False, quiet=True, netns=True).returncode:
            run(["ip", "tuntap", "add", "dev", tap, "mode", "tap"], netns=True)
        run(["ip", "link", "set", tap, "master", BRIDGE, "up"], netns=True)
    run(["nft", "add", "table", "bridge", NFT_TABLE], netns=True)
    run(["nft", "add", "chain", "bridge", NFT_TABLE, "cut", "{ type filter hook forward priority 0; }"], netns=True)


def net_down():
    if NETNS in run(["ip", "netns", "list"], capture=True).stdout.split():
        run(["ip", "netns", "delete", NETNS])


# ---------------------------------------------------------------- VMs

def qemu_pid(lab, host):
    try:
        pid = int(open(os.path.join(lab.run_dir(host), "qemu.pid"), encoding="ascii").read())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def start_vm(lab, host, images):
    d = lab.run_dir(host)
    os.makedirs(d, exist_ok=True)
    root = os.path.join(d, "root.qcow2")
    if not os.path.exists(root):
        run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", os.path.join(images, "base.qcow2"), root])
    drives = ["-drive", "file=%s,if=virtio,format=qcow2,cache=unsafe" % root]
    for name, size in DISKS:
        path = os.path.join(d, name + ".img")
        if not os.path.exists(path):
            run(["truncate", "-s", size, path])
        drives += ["-drive", "file=%s,if=virtio,format=raw,cache=unsafe,discard=unmap" % path]
    # No KVM here: TCG with one thread per vCPU.
    run(["qemu-system-x86_64", "-accel", "tcg,thread=multi", "-cpu", "max", "-M", "q35",
         "-smp", str(lab.cpus), "-m", str(lab.memory), "-name", host, "-nographic", "-nodefaults",
         "-serial", "file:" + os.path.join(d, "console.log"),
         "-kernel", os.path.join(images, "vmlinuz"), "-initrd", os.path.join(images, "initrd.img"),
         "-append", "root=/dev/vda rw console=ttyS0 net.ifnames=0 systemd.hostname=%s quiet" % host,
         *drives,
         "-netdev", "tap,id=n0,ifname=tap-%s,script=no,downscript=no" % host,
         "-device", "virtio-net-pci,netdev=n0,mac=" + lab.mac(host),
         "-pidfile", os.path.join(d, "qemu.pid"), "-daemonize"], netns=True)


def wait_ssh(lab, host, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if ssh(lab, host, "true", check=False, timeout=20).returncode == 0:
            return
        time.sleep(2)
    raise LabError("sshd on %s did not answer within %d s; see %s" % (host, timeout, os.path.join(lab.run_dir(host), "console.log")))


def ssh_argv(lab, host):
    return ["ssh", "-i", ssh_key(), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10", "-o", "BatchMode=yes", "root@" + lab.ip(host)]


def in_netns():
    try:
        return os.stat("/proc/self/ns/net").st_ino == os.stat("/run/netns/" + NETNS).st_ino
    except OSError:
        return False


def ssh(lab, host, command, check=True, timeout=600, capture=True):
    return run(ssh_argv(lab, host) + [command], check=check, capture=capture, timeout=timeout, netns=not in_netns())


def start_builder():
    state = run(["podman", "inspect", "--format", "{{.State.Status}}", BUILDER], check=False, capture=True)
    if state.returncode == 0 and state.stdout.strip() == "running":
        return
    run(["podman", "rm", "-f", "-t", "0", BUILDER], check=False, quiet=True)
    run(["podman", "run", "-d", "--name", BUILDER, "--hostname", BUILDER, "--network", "none",
         "--label", "georep.mars.vmlab", BUILDER_IMAGE, "sleep", "infinity"], quiet=True)


def up(lab):
    sources = mars_sources()
    images = build_images()
    net_up(lab)
    start_builder()
    started = time.time()
    for host in lab.hosts:
        if not qemu_pid(lab, host):
            start_vm(lab, host, images)
    for host in lab.hosts:
        wait_ssh(lab, host)
    write_inventory(lab, sources)
    print("vmlab: %d VMs up in %.0f s: %s" % (lab.count, time.time() - started,
                                              ", ".join("%s=%s(%s)" % (h, lab.ip(h), lab.site(h)) for h in lab.hosts)))


def kill_vm(lab, host):
    pid = qemu_pid(lab, host)
    if pid:
        os.kill(pid, signal.SIGKILL)
        deadline = time.time() + 10
        while qemu_pid(lab, host) and time.time() < deadline:
            time.sleep(0.1)
            time.sleep(0.1)


def down(lab, volumes=False):
    for host in lab.hosts:
        kill_vm(lab, host)
        if volumes:
            shutil.rmtree(lab.run_dir(host), ignore_errors=True)
    run(["podman", "rm", "-f", "-t", "0", BUILDER], check=False, quiet=True)
    if volumes:  # the build host's packages go with it: the next rollout builds again
        shutil.rmtree(os.path.join(STATE_DIR, "packages"), ignore_errors=True)
    net_down()


def host_action(lab, action, host):
    if action == "crash":  # power cut: the page cache of the VM is lost, its disks stay
        kill_vm(lab, host)
    elif action == "stop":
        ssh(lab, host, "systemctl poweroff", check=False, timeout=30)
        deadline = time.time() + 120
        while time.time() < deadline:
            if not qemu_pid(lab, host):
                return
            time.sleep(1)
        kill_vm(lab, host)
    elif action == "start":
        if not qemu_pid(lab, host):
            start_vm(lab, host, image_dir())
        wait_ssh(lab, host)


# ---------------------------------------------------------------- faults

def pairs(lab, side_a, side_b):
    hosts_a, hosts_b = lab.members(side_a), lab.members(side_b)
    if set(hosts_a) & set(hosts_b):
        raise LabError("'%s' and '%s' overlap; name two different hosts or sites" % (side_a, side_b))
    for a in hosts_a:
        for b in hosts_b:
            yield a, b
            yield b, a


def partition(lab, a, b):
    for src, dst in pairs(lab, a, b):
        run(["nft", "add", "rule", "bridge", NFT_TABLE, "cut", "ip", "saddr", lab.ip(src), "ip", "daddr", lab.ip(dst), "drop"],
            netns=True)


def delay(lab, a, b, ms):
    """netem inside the VMs (this machine's kernel has no sch_netem): a prio qdisc sends the
    packets for the other side's addresses through a delaying band."""
    for src, dst in pairs(lab, a, b):
        script = ("tc qdisc show dev eth0 | grep -q 'qdisc prio 1:' || { tc qdisc replace dev eth0 root handle 1: prio;"
                  " tc qdisc add dev eth0 parent 1:3 handle 30: netem delay %dms; };"
                  " tc filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip dst %s/32 flowid 1:3" % (ms, lab.ip(dst)))
        ssh(lab, src, script)


def heal(lab):
    if NETNS in run(["ip", "netns", "list"], capture=True).stdout.split():
        run(["nft", "flush", "chain", "bridge", NFT_TABLE, "cut"], check=False, quiet=True, netns=True)
    for host in lab.hosts:
        if qemu_pid(lab, host):
            ssh(lab, host, "tc qdisc del dev eth0 root 2>/dev/null; true", check=False, timeout=30)


def status(lab):
    for host in lab.hosts:
        print("%-5s %-12s %-7s %s" % (host, lab.ip(host), lab.site(host), "running" if qemu_pid(lab, host) else "stopped"))
    rules = run(["nft", "list", "chain", "bridge", NFT_TABLE, "cut"], check=False, capture=True, netns=True).stdout
    for line in rules.splitlines():
        if "drop" in line:
            print("fault: " + line.strip())


# ---------------------------------------------------------------- inventory

def write_inventory(lab, sources):
    """build/inventories/vm/hosts.yml; the group variables are inventories/vm/group_vars."""
    sites = {}
    for host in lab.hosts:
        sites.setdefault(lab.site(host).replace("-", "_"), {})[host] = {
            "ansible_host": lab.ip(host), "mars_replication_ip": lab.ip(host), "mars_site": lab.site(host)}
    inventory = {"all": {
        "vars": {"ansible_ssh_private_key_file": ssh_key(),
                 "mars_kmod_source_directory": sources,
                 "mars_kmod_package_dir": os.path.join(STATE_DIR, "packages")},
        "children": {
            "mars": {"children": {s: {"hosts": h} for s, h in sorted(sites.items())}},
            "mars_kmod_builders": {"hosts": {"vmbuilder": {
                "ansible_connection": "containers.podman.podman", "ansible_host": BUILDER,
                "ansible_python_interpreter": "/usr/bin/python3"}}}}}}
    os.makedirs(INVENTORY_DIR, exist_ok=True)
    link = os.path.join(INVENTORY_DIR, "group_vars")
    if not os.path.lexists(link):
        os.symlink(os.path.join(REPO, "inventories", "vm", "group_vars"), link)
    with open(os.path.join(INVENTORY_DIR, "hosts.yml"), "w", encoding="utf-8") as handle:
        handle.write("---\n# Written by 'lab/vmlab.py up' for %d VMs in %d sites.\n" % (lab.count, lab.sites))
        handle.write(to_yaml(inventory))


# ---------------------------------------------------------------- cli

def parser():
    p = argparse.ArgumentParser(prog="vmlab", description=__doc__.split("\n\n", 1)[0])
    p.add_argument("--hosts", type=int, default=int(os.environ.get("VMLAB_HOSTS", "3")), choices=range(1, 10),
                   metavar="N", help="number of VMs, 1-9 (default 3)")
    p.add_argument("--sites", type=int, default=2, choices=(1, 2, 3), help="number of sites (default 2)")
    p.add_argument("--memory", type=int, default=2048, help="MiB per VM (default 2048)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("image", help="build the VM image and the build host's image (cached)")
    sub.add_parser("sources", help="extract the pinned MARS sources from $GEOREP_MARS_GIT and print their path")
    sub.add_parser("up", help="start the VMs and the build host, write build/inventories/vm")
    d = sub.add_parser("down", help="stop the VMs, remove the build host and the network namespace")
    d.add_argument("--volumes", action="store_true", help="also delete the VMs' disks and the built packages")
    sub.add_parser("status", help="VMs and active partitions")
    sub.add_parser("hosts", help="print VM names, one per line")
    s = sub.add_parser("partition", help="cut every link between A and B (VMs or sites)")
    s.add_argument("a")
    s.add_argument("b")
    s = sub.add_parser("delay", help="one-way delay in ms between A and B")
    s.add_argument("a")
    s.add_argument("b")
    s.add_argument("ms", type=int)
    sub.add_parser("heal", help="remove every partition and delay")
    for action, what in (("crash", "power HOST off at once (disks kept)"), ("stop", "shut HOST down cleanly"),
                         ("start", "boot HOST again and wait for ssh")):
        s = sub.add_parser(action, help=what)
        s.add_argument("host")
    s = sub.add_parser("ssh", help="run a shell command on HOST: vmlab ssh HOST -- CMD ...")
    s.add_argument("host")
    s.add_argument("cmd", nargs=argparse.REMAINDER)
    s = sub.add_parser("exec-ns", help="run a command in the lab's network namespace: vmlab exec-ns -- CMD ...")
    s.add_argument("cmd", nargs=argparse.REMAINDER)
    return p


def main(argv=None):
    p = parser()

    def one_line_error(message):
        raise LabError(message)

    p.error = one_line_error
    try:
        args = p.parse_args(argv)
        if not args.command:
            raise LabError("no command given; see 'vmlab --help'")
        lab = VmLab(hosts=args.hosts, sites=args.sites, memory=args.memory)
        if args.command == "hosts":
            print("\n".join(lab.hosts))
            return 0
        for name in ("a", "b", "host"):
            if getattr(args, name, None):
                lab.members(getattr(args, name))
        require_root_and_tools()
        os.makedirs(STATE_DIR, exist_ok=True)
        command = args.command
        if command == "image":
            build_images()
        elif command == "sources":
            print(mars_sources())
        elif command == "up":
            up(lab)
        elif command == "down":
            down(lab, volumes=args.volumes)
        elif command == "status":
            status(lab)
        elif command == "partition":
            partition(lab, args.a, args.b)
        elif command == "delay":
            delay(lab, args.a, args.b, args.ms)
        elif command == "heal":
            heal(lab)
        elif command == "ssh":
            cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
            return ssh(lab, args.host, " ".join(cmd), check=False, capture=False).returncode
        elif command == "exec-ns":
            cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
            return run(cmd, check=False, netns=True).returncode
        else:
            host_action(lab, command, args.host)
        return 0
    except LabError as err:
        print("vmlab: error: %s" % err, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

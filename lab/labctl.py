"""The georep.mars lab: several MARS test hosts as privileged Podman containers on one machine.

Each host is a Debian 12 container with systemd as PID 1, sshd, a fixed IP and MAC on an
internal network, a persistent ``/mars`` volume and loop devices as backing disks (``/dev/vdb``
...).  Faults are injected on the machine itself, in an iptables chain of our own that sees the
bridged traffic between hosts (never the controller's ssh), so they survive host restarts.

Run as root: ``python3 lab/labctl.py COMMAND`` (``make lab-up`` / ``make lab-down`` wrap it).
"""

import argparse
import fcntl
import hashlib
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STATE_DIR = os.environ.get("GEOREP_LAB_STATE", "/var/lib/georep-mars-lab")
CONTAINERS_CONF = os.path.join(REPO, "lab", "containers.conf")
IMAGE = "localhost/georep-lab-host:latest"
BASE_IMAGE = "localhost/georep-lab-base:latest"
LABEL = "georep.mars.lab"
CHAIN = "GEOREP-LAB"
DISKS = (("vdb", "1G"), ("vdc", "1G"), ("vdd", "1G"), ("vde", "1G"))
# Everything --privileged gives except the machine's own devices (its root disk among them):
# all capabilities, no seccomp/AppArmor/masked /proc paths (the emulator mounts its own
# /proc/sys/mars), FUSE, and the right to make and use loop devices.
HOST_RUN_OPTIONS = ("--cap-add=ALL", "--security-opt=seccomp=unconfined", "--security-opt=apparmor=unconfined",
                    "--security-opt=systempaths=unconfined", "--security-opt=label=disable",
                    "--device=/dev/fuse", "--device=/dev/loop-control", "--device-cgroup-rule=b 7:* rwm",
                    "--systemd=always")


class LabError(Exception):
    """A problem the user can fix; printed as one line, exit code 2."""


def subnet_octet(name):
    """Second octet of a named lab's 10.X.0.0/24: 80..119 from the name, never 88 (podman's default 10.88.0.0/16)."""
    octet = 80 + sum(name.encode()) % 40
    return 120 if octet == 88 else octet


class Lab:
    """The lab's fixed layout: host i is ``<prefix>i`` at ``<subnet>.(10+i)`` in site ``site-(a|b|c)``."""

    def __init__(self, hosts=3, sites=2, name="lab"):
        self.count = hosts
        self.sites = sites
        # The default lab is mars1..N on 10.77.0.0/24; a second lab (--name X, for parallel work)
        # gets hosts X1..N on georep-X with a subnet of its own.
        self.name = name
        self.prefix = "mars" if name == "lab" else name
        self.network = "georep-" + name
        self.subnet = "10.77.0" if name == "lab" else "10.%d.0" % subnet_octet(name)

    @property
    def inventory_dir(self):
        if self.name == "lab":
            return os.path.join(REPO, "inventories", "lab")
        return os.path.join(REPO, "build", "inventories", self.name)

    @property
    def hosts(self):
        return ["%s%d" % (self.prefix, i) for i in range(1, self.count + 1)]

    def index(self, host):
        if host not in self.hosts:
            raise LabError("unknown lab host '%s'; the lab has %s" % (host, ", ".join(self.hosts)))
        return int(host[len(self.prefix):])

    def ip(self, host):
        return "%s.%d" % (self.subnet, 10 + self.index(host))

    def mac(self, host):
        # A fixed MAC keeps the peers' ARP caches valid across crash and start.
        third = int(self.subnet.split(".")[1])
        return "02:42:0a:%02x:00:%02x" % (third, 10 + self.index(host))

    def site(self, host):
        return "site-" + "abc"[(self.index(host) - 1) % self.sites]

    def site_names(self):
        return sorted({self.site(h) for h in self.hosts})

    def members(self, name):
        """A host name or a site name, as a list of hosts."""
        if name in self.site_names():
            return [h for h in self.hosts if self.site(h) == name]
        self.index(name)
        return [name]


def run(argv, check=True, capture=False, quiet=False):
    env = dict(os.environ, CONTAINERS_CONF=CONTAINERS_CONF)
    result = subprocess.run(argv, env=env, text=True, check=False,
                            stdout=subprocess.PIPE if (capture or quiet) else None,
                            stderr=subprocess.PIPE if (capture or quiet) else None)
    if check and result.returncode != 0:
        detail = (result.stderr or "").strip().splitlines()
        suffix = ": " + detail[-1] if detail else ""
        raise LabError("'%s' failed (rc %d)%s" % (" ".join(argv), result.returncode, suffix))
    return result


def podman(*args, **kwargs):
    return run(["podman"] + list(args), **kwargs)


def require_root_and_tools():
    if os.geteuid() != 0:
        raise LabError("the lab needs root (rootful podman, loop devices, iptables); run it with sudo or as root")
    for tool in ("podman", "iptables", "losetup"):
        if shutil.which(tool) is None:
            raise LabError("'%s' is not installed; run 'make deps' (apt-get install podman runc iptables) first" % tool)


# ---------------------------------------------------------------- image

def ssh_key():
    os.makedirs(STATE_DIR, exist_ok=True)
    key = os.path.join(STATE_DIR, "id_ed25519")
    if not os.path.exists(key):
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "georep-lab", "-f", key])
    return key


def image_digest():
    """Rebuild the image when its recipe or the ssh key changes."""
    digest = hashlib.sha256()
    for name in ("packages.txt", "Containerfile"):
        with open(os.path.join(REPO, "lab", "image", name), "rb") as handle:
            digest.update(handle.read())
    with open(ssh_key() + ".pub", "rb") as handle:
        digest.update(handle.read())
    return digest.hexdigest()[:16]


def build_image(force=False):
    """Builds the host image unless the cached one has the current recipe. Two labs started at once
    (make test starts two) take turns: the second finds the image the first built."""
    os.makedirs(STATE_DIR, exist_ok=True)
    with open(os.path.join(STATE_DIR, "image.lock"), "w", encoding="ascii") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _build_image(force)


def _build_image(force):
    wanted = image_digest()
    have = podman("image", "inspect", "--format", "{{ index .Labels \"georep.recipe\" }}", IMAGE,
                  check=False, capture=True)
    if not force and have.returncode == 0 and have.stdout.strip() == wanted:
        return
    packages = [line.strip() for line in open(os.path.join(REPO, "lab", "image", "packages.txt"), encoding="utf-8")
                if line.strip() and not line.startswith("#")]
    rootfs_tar = os.path.join(STATE_DIR, "base-%s.tar" % wanted)
    if not os.path.exists(rootfs_tar):
        for old in os.listdir(STATE_DIR):
            if old.startswith("base-") and old.endswith(".tar"):
                os.unlink(os.path.join(STATE_DIR, old))
        tmp = os.path.join(STATE_DIR, "rootfs.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        print("lab: debootstrap of the host image (a few minutes, cached afterwards)", flush=True)
        run(["debootstrap", "--variant=minbase", "--include=" + ",".join(packages),
             "bookworm", tmp, "http://deb.debian.org/debian"], quiet=True)
        for name in os.listdir(os.path.join(tmp, "etc/ssh")):
            if name.startswith("ssh_host_"):
                os.unlink(os.path.join(tmp, "etc/ssh", name))
        run(["tar", "-C", tmp, "-cf", rootfs_tar + ".part", "."])
        os.rename(rootfs_tar + ".part", rootfs_tar)
        shutil.rmtree(tmp)
    podman("import", "-q", rootfs_tar, BASE_IMAGE, quiet=True)
    context = os.path.join(STATE_DIR, "image-context")
    shutil.rmtree(context, ignore_errors=True)
    shutil.copytree(os.path.join(REPO, "lab", "image"), context)
    shutil.copy(ssh_key() + ".pub", os.path.join(context, "authorized_keys"))
    podman("build", "-q", "--label", "georep.recipe=" + wanted, "-t", IMAGE, context, quiet=True)


# ---------------------------------------------------------------- disks

def disk_file(host, name):
    return os.path.join(STATE_DIR, "disks", "%s-%s.img" % (host, name))


def loop_for(path):
    out = run(["losetup", "-j", path], capture=True).stdout.strip()
    return out.split(":", 1)[0] if out else None


def attach_disks(host):
    """Sparse files on the machine, each behind a loop device that the host sees as /dev/vdX."""
    os.makedirs(os.path.join(STATE_DIR, "disks"), exist_ok=True)
    devices = []
    for name, size in DISKS:
        path = disk_file(host, name)
        if not os.path.exists(path):
            run(["truncate", "-s", size, path])
        loop = loop_for(path) or run(["losetup", "-f", "--show", path], capture=True).stdout.strip()
        devices.append("--device=%s:/dev/%s" % (loop, name))
    return devices


def detach_disks(host, delete=False):
    for name, _size in DISKS:
        path = disk_file(host, name)
        if os.path.exists(path):
            while True:
                loop = loop_for(path)
                if not loop:
                    break
                run(["losetup", "-d", loop], check=False)
            if delete:
                os.unlink(path)


# ---------------------------------------------------------------- hosts

def wait_ssh(ip, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection((ip, 22), timeout=1) as sock:
                if sock.recv(4).startswith(b"SSH"):
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise LabError("sshd on %s did not answer within %d s; see 'podman logs'" % (ip, timeout))


def ensure_network(lab):
    run(["sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1"], check=False)
    if podman("network", "exists", lab.network, check=False).returncode != 0:
        podman("network", "create", "--internal", "--subnet", lab.subnet + ".0/24",
               "--label", LABEL, lab.network, quiet=True)
    ensure_chain()


def container_state(host):
    out = podman("inspect", "--format", "{{.State.Status}}", host, check=False, capture=True)
    return out.stdout.strip() if out.returncode == 0 else "absent"


def create_host(lab, host):
    podman("run", "-d", "--name", host, "--hostname", host, "--label", LABEL,
           "--network", lab.network, "--ip", lab.ip(host), "--mac-address", lab.mac(host),
           *HOST_RUN_OPTIONS,
           "-v", "%s-mars:/mars" % host, *attach_disks(host), IMAGE, quiet=True)


# Each host's systemd takes about 5 inotify instances; Debian allows 128 per user, so without more
# the 25th container's systemd fails to start (exit 255, no log).
INOTIFY_INSTANCES = "/proc/sys/fs/inotify/max_user_instances"


def ensure_inotify_instances(hosts):
    wanted = 128 + 8 * hosts
    with open(INOTIFY_INSTANCES, encoding="utf-8") as handle:
        current = int(handle.read())
    if current < wanted:
        with open(INOTIFY_INSTANCES, "w", encoding="utf-8") as handle:
            handle.write(str(wanted))
        print("lab: raised fs.inotify.max_user_instances from %d to %d for %d hosts' systemd" % (current, wanted, hosts))


def up(lab):
    build_image()
    others = podman("ps", "-q", "--filter", "label=" + LABEL, check=False, capture=True).stdout.split()
    ensure_inotify_instances(len(others) + lab.count)
    ensure_network(lab)
    for host in lab.hosts:
        state = container_state(host)
        if state == "absent":
            create_host(lab, host)
        elif state != "running":
            attach_disks(host)
            podman("start", host, quiet=True)
    for host in lab.hosts:
        wait_ssh(lab.ip(host))
    write_inventory(lab)
    print("lab: %d hosts up: %s" % (lab.count, ", ".join("%s=%s(%s)" % (h, lab.ip(h), lab.site(h)) for h in lab.hosts)))


def down(lab, volumes=False):
    for host in lab.hosts:
        podman("rm", "-f", "-t", "0", host, check=False, quiet=True)
        detach_disks(host, delete=volumes)
        if volumes:
            podman("volume", "rm", "-f", "%s-mars" % host, check=False, quiet=True)
    heal(lab)
    podman("network", "rm", "-f", lab.network, check=False, quiet=True)


def cleanup():
    """Remove everything any earlier lab or Molecule run may have left behind."""
    ids = podman("ps", "-aq", "--filter", "label=" + LABEL, check=False, capture=True).stdout.split()
    ids += podman("ps", "-aq", "--filter", "label=georep.mars.molecule", check=False, capture=True).stdout.split()
    if ids:
        podman("rm", "-f", "-t", "0", *ids, check=False, quiet=True)
    for vol in podman("volume", "ls", "-q", check=False, capture=True).stdout.split():
        if vol.endswith("-mars"):  # every lab host's /mars volume is HOST-mars
            podman("volume", "rm", "-f", vol, check=False, quiet=True)
    nets = podman("network", "ls", "-q", "--filter", "label=" + LABEL, check=False, capture=True).stdout.split()
    for net in set(nets) | {"georep-lab", "georep-mol"}:
        podman("network", "rm", "-f", net, check=False, quiet=True)
    detach_orphan_loops()
    disks = os.path.join(STATE_DIR, "disks")
    if os.path.isdir(disks):
        for name in os.listdir(disks):
            path = os.path.join(disks, name)
            loop = loop_for(path)
            while loop:
                run(["losetup", "-d", loop], check=False)
                loop = loop_for(path)
            os.unlink(path)
    remove_chain()


def detach_orphan_loops():
    """Loop devices that lab hosts made inside their containers (the emulator's /dev/mars, loop
    disks of the storage role) outlive the containers; their backing files are gone with them."""
    listing = run(["losetup", "--list", "--noheadings", "--output", "NAME,BACK-FILE"], check=False, capture=True).stdout
    for line in listing.splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2:
            backing = parts[1].replace(" (deleted)", "").strip()
            if not os.path.exists(backing) or parts[1].endswith("(deleted)"):
                run(["losetup", "-d", parts[0]], check=False, quiet=True)


def write_inventory(lab):
    """inventories/lab/hosts.yml for the lab as it is now (committed for the default layout)."""
    sites = {}
    for host in lab.hosts:
        sites.setdefault(lab.site(host).replace("-", "_"), {})[host] = {
            "ansible_host": lab.ip(host), "mars_replication_ip": lab.ip(host), "mars_site": lab.site(host)}
    inventory = {"all": {"children": {"mars": {"children": {s: {"hosts": h} for s, h in sorted(sites.items())}}}}}
    os.makedirs(lab.inventory_dir, exist_ok=True)
    if lab.name != "lab" and not os.path.exists(os.path.join(lab.inventory_dir, "group_vars")):
        os.symlink(os.path.join(REPO, "inventories", "lab", "group_vars"), os.path.join(lab.inventory_dir, "group_vars"))
    path = os.path.join(lab.inventory_dir, "hosts.yml")
    text = "---\n# Written by 'lab/labctl.py up' for %d hosts in %d sites.\n" % (lab.count, lab.sites)
    text += to_yaml(inventory)
    old = open(path, encoding="utf-8").read() if os.path.exists(path) else None
    if old != text:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)


def to_yaml(data, indent=0):
    """Just enough YAML for the inventory (nested dicts of strings), without a dependency."""
    out = ""
    for key, value in data.items():
        if isinstance(value, dict):
            out += "%s%s:\n%s" % ("  " * indent, key, to_yaml(value, indent + 1))
        else:
            out += "%s%s: %s\n" % ("  " * indent, key, json.dumps(value))
    return out


# ---------------------------------------------------------------- faults

def ensure_chain():
    if run(["iptables", "-L", CHAIN, "-n"], check=False, quiet=True).returncode != 0:
        run(["iptables", "-N", CHAIN], check=False, quiet=True)  # another lab may create it at the same moment
        run(["iptables", "-L", CHAIN, "-n"], quiet=True)
    if run(["iptables", "-C", "FORWARD", "-j", CHAIN], check=False, quiet=True).returncode != 0:
        run(["iptables", "-I", "FORWARD", "1", "-j", CHAIN])


def remove_chain():
    run(["iptables", "-F", CHAIN], check=False, quiet=True)
    while run(["iptables", "-D", "FORWARD", "-j", CHAIN], check=False, quiet=True).returncode == 0:
        pass
    run(["iptables", "-X", CHAIN], check=False, quiet=True)
    stop_delayers()


def pairs(lab, side_a, side_b):
    """Every (src, dst) IP pair in both directions between two hosts or sites."""
    hosts_a, hosts_b = lab.members(side_a), lab.members(side_b)
    if set(hosts_a) & set(hosts_b):
        raise LabError("'%s' and '%s' overlap; name two different hosts or sites" % (side_a, side_b))
    for a in hosts_a:
        for b in hosts_b:
            yield lab.ip(a), lab.ip(b)
            yield lab.ip(b), lab.ip(a)


def add_rules(lab, side_a, side_b, target_args, append=False):
    ensure_chain()
    for src, dst in pairs(lab, side_a, side_b):
        run(["iptables", "-A" if append else "-I", CHAIN, "-s", src, "-d", dst] + target_args)


def partition(lab, a, b):
    add_rules(lab, a, b, ["-j", "DROP"])


def loss(lab, a, b, percent):
    probability = "%.4f" % (float(percent) / 100.0)
    add_rules(lab, a, b, ["-m", "statistic", "--mode", "random", "--probability", probability, "-j", "DROP"])


def rate(lab, a, b, kbytes):
    # A token bucket per direction: what exceeds the rate is dropped and TCP backs off to it.
    # (This kernel has no sch_netem, and tc on a bridge port would also shape the controller's ssh.)
    # iptables wants a burst of at least a second's worth.
    ensure_chain()
    for src, dst in pairs(lab, a, b):
        # per lab: rules of one hashlimit name share one table (and its rate)
        name = "lab%s-%s-%s" % (src.split(".")[1], src.split(".")[-1], dst.split(".")[-1])
        run(["iptables", "-I", CHAIN, "-s", src, "-d", dst, "-m", "hashlimit", "--hashlimit-name", name,
             "--hashlimit-above", "%dkb/s" % int(kbytes), "--hashlimit-burst", "%db" % (int(kbytes) * 1024 + 65536),
             "--hashlimit-mode", "srcip,dstip", "-j", "DROP"])


def delay(lab, a, b, ms):
    # Userspace delay through NFQUEUE (no sch_netem here); one queue per delay value.
    start_delayer(int(ms))
    add_rules(lab, a, b, ["-j", "NFQUEUE", "--queue-num", str(int(ms)), "--queue-bypass"], append=True)


def delayer_pidfile(ms):
    return os.path.join(STATE_DIR, "delay-%d.pid" % ms)


def start_delayer(ms):
    pidfile = delayer_pidfile(ms)
    if os.path.exists(pidfile):
        try:
            os.kill(int(open(pidfile, encoding="ascii").read()), 0)
            return
        except (OSError, ValueError):
            pass
    python = os.path.join(REPO, ".venv", "bin", "python")
    log = open(os.path.join(STATE_DIR, "delay-%d.log" % ms), "ab")
    proc = subprocess.Popen([python, os.path.join(REPO, "lab", "nfq_delay.py"), str(ms), str(ms)],
                            stdout=log, stderr=log, start_new_session=True)
    with open(pidfile, "w", encoding="ascii") as handle:
        handle.write(str(proc.pid))
    time.sleep(0.5)
    if proc.poll() is not None:
        raise LabError("the delay helper exited at once; see %s" % log.name)


def stop_delayers():
    if not os.path.isdir(STATE_DIR):
        return
    for name in os.listdir(STATE_DIR):
        if name.startswith("delay-") and name.endswith(".pid"):
            path = os.path.join(STATE_DIR, name)
            try:
                os.kill(int(open(path, encoding="ascii").read()), 15)
            except (OSError, ValueError):
                pass
            os.unlink(path)


def heal(lab):
    """Removes this lab's rules only: another lab may run its own faults beside it ('cleanup' flushes all)."""
    remaining = []
    for rule in chain_rules():
        if own_rule(lab, rule):
            run(["iptables", "-D"] + rule[1:], check=False, quiet=True)
        else:
            remaining.append(rule)
    if not any("NFQUEUE" in rule for rule in remaining):
        stop_delayers()  # the delay helpers are shared: only when no lab uses them any more


def chain_rules():
    """The rules of our chain as argument lists (``-A CHAIN -s ... -j ...``)."""
    listing = run(["iptables", "-S", CHAIN], check=False, capture=True, quiet=True).stdout
    return [shlex.split(line) for line in listing.splitlines() if line.startswith("-A ")]


def own_rule(lab, rule):
    """Does a rule name an address of this lab (every rule of ours has -s and -d)?"""
    addresses = [rule[i + 1] for i, word in enumerate(rule[:-1]) if word in ("-s", "-d")]
    return any(address.startswith(lab.subnet + ".") for address in addresses)


def host_action(lab, action, host):
    lab.index(host)
    if action == "crash":
        podman("kill", host, quiet=True)
    elif action == "stop":
        podman("stop", "-t", "10", host, quiet=True)
    elif action == "start":
        attach_disks(host)
        podman("start", host, quiet=True)
        wait_ssh(lab.ip(host))
    elif action == "freeze":
        podman("pause", host, quiet=True)
    elif action == "thaw":
        podman("unpause", host, quiet=True)
    elif action == "isolate":
        podman("network", "disconnect", lab.network, host, quiet=True)
    elif action == "unisolate":
        podman("network", "connect", "--ip", lab.ip(host), "--mac-address", lab.mac(host), lab.network, host, quiet=True)


def exec_in(lab, host, command):
    lab.index(host)
    if not command:
        raise LabError("exec needs a command: labctl exec HOST -- CMD ...")
    return podman("exec", host, *command, check=False).returncode


def status(lab):
    for host in lab.hosts:
        print("%-8s %-15s %-7s %s" % (host, lab.ip(host), lab.site(host), container_state(host)))
    rules = run(["iptables", "-S", CHAIN], check=False, capture=True).stdout.strip().splitlines()[1:]
    for rule in rules:
        print("fault: " + rule)


# ---------------------------------------------------------------- cli

def parser():
    p = argparse.ArgumentParser(prog="labctl", description=__doc__.split("\n\n", 1)[0])
    p.add_argument("--hosts", type=int, default=int(os.environ.get("LAB_HOSTS", "3")), help="number of hosts (default 3)")
    p.add_argument("--name", default=os.environ.get("LAB_NAME", "lab"),
                   help="a second, separate lab (hosts NAME1..N on their own network); default: the lab mars1..N")
    p.add_argument("--sites", type=int, default=int(os.environ.get("LAB_SITES", "2")), choices=(1, 2, 3), help="number of sites (default 2)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("image", help="build the host image (cached)")
    sub.add_parser("up", help="start the hosts (builds the image first if needed)")
    d = sub.add_parser("down", help="remove the hosts")
    d.add_argument("--volumes", action="store_true", help="also delete /mars volumes and disks")
    sub.add_parser("cleanup", help="remove every container, network, volume, loop device and rule any lab or Molecule run left")
    sub.add_parser("status", help="hosts and active faults")
    sub.add_parser("inventory", help="write and print inventories/lab/hosts.yml")
    sub.add_parser("hosts", help="print host names, one per line")
    for name, what in (("partition", "cut every link between A and B (hosts or sites)"),):
        s = sub.add_parser(name, help=what)
        s.add_argument("a")
        s.add_argument("b")
    s = sub.add_parser("loss", help="random packet loss between A and B")
    s.add_argument("a")
    s.add_argument("b")
    s.add_argument("percent", type=float)
    s = sub.add_parser("delay", help="one-way delay in ms between A and B (each direction)")
    s.add_argument("a")
    s.add_argument("b")
    s.add_argument("ms", type=int)
    s = sub.add_parser("rate", help="bandwidth limit in KiB/s between A and B (each direction)")
    s.add_argument("a")
    s.add_argument("b")
    s.add_argument("kbytes", type=int)
    sub.add_parser("heal", help="remove every partition, delay, loss and rate limit (with --name: of that lab only)")
    for action, what in (("crash", "kill every process of HOST at once (disk kept)"), ("stop", "shut HOST down cleanly"),
                         ("start", "boot HOST again"), ("freeze", "hang HOST (cgroup freezer)"), ("thaw", "unhang HOST"),
                         ("isolate", "pull HOST's network cable"), ("unisolate", "plug it back in")):
        s = sub.add_parser(action, help=what)
        s.add_argument("host")
    s = sub.add_parser("exec", help="run a command on HOST: labctl exec HOST -- CMD ...")
    s.add_argument("host")
    s.add_argument("cmd", nargs=argparse.REMAINDER)
    return p


def main(argv=None):
    p = parser()

    def one_line_error(message):
        # argparse would print a usage block; one line with rc 2 is what scripts can use.
        raise LabError(message)

    p.error = one_line_error
    try:
        args = p.parse_args(argv)
        if not args.command:
            raise LabError("no command given; see 'labctl --help'")
        lab = Lab(hosts=args.hosts, sites=args.sites, name=args.name)
        if args.command == "hosts":
            print("\n".join(lab.hosts))
            return 0
        if args.command == "exec":
            lab.index(args.host)
        for name in ("a", "b", "host"):
            if getattr(args, name, None):
                lab.members(getattr(args, name))
        require_root_and_tools()
        command = args.command
        if command == "image":
            build_image()
        elif command == "up":
            up(lab)
        elif command == "down":
            down(lab, volumes=args.volumes)
        elif command == "cleanup":
            cleanup()
        elif command == "status":
            status(lab)
        elif command == "inventory":
            write_inventory(lab)
            print(open(os.path.join(lab.inventory_dir, "hosts.yml"), encoding="utf-8").read(), end="")
        elif command == "partition":
            partition(lab, args.a, args.b)
        elif command == "loss":
            loss(lab, args.a, args.b, args.percent)
        elif command == "delay":
            delay(lab, args.a, args.b, args.ms)
        elif command == "rate":
            rate(lab, args.a, args.b, args.kbytes)
        elif command == "heal":
            heal(lab)
        elif command == "exec":
            cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
            return exec_in(lab, args.host, cmd)
        else:
            host_action(lab, command, args.host)
        return 0
    except LabError as err:
        print("labctl: error: %s" % err, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

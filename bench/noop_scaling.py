"""How the wall time of a no-op run grows with the number of resources (1, 10, 50) on 3 lab hosts.

For each N the bench makes a fresh lab (``labctl --name bench``), gives every host N small loop
disks (``/dev/benchK``), rolls out N resources replicated on all 3 hosts with ``site.yml``, and
then times what an operator repeats: a second, no-op run of the ``resources`` role (it reads the
state of all resources with one pass over ``/mars`` per task) and one ``georep.mars.info`` call.
For comparison it times what reading the same state with one ``marsadm view-*`` call per
resource and view would cost (the approach the modules avoid).

Run as root: ``.venv/bin/python bench/noop_scaling.py [N ...]`` (default 1 10 50; N=50 takes
several minutes to roll out). Prints one line per N.

Measured 2026-11-25 on the 2-core machine while other test runs loaded it (load average ~10):

     N      rollout s no-op resources s       info s   marsadm views s/host
     1          175.2             18.8          5.7                    2.6
    10          385.4             24.3          1.8                    4.0
    50          743.4            159.2          1.7                   26.6

(N=50 on 2026-11-25 23:00, load average 4.5-6 from lab tests running beside it.)

The one-pass ``info`` stays flat (1.7 s for 50 resources on 3 hosts), while per-view marsadm
calls grow linearly (8 views x N resources: 26.6 s per host at N=50). The no-op run of the
``resources`` role grows with N: each module call reads the whole tree once, but the role still
loops over the resources (disk checks, one ``georep.mars.resource`` call per resource), so at
N=50 it costs about 3 s per resource on this loaded 2-core machine. Batching those loops into
one call per host is the next step.
"""

import os
import subprocess
import sys
import tempfile
import time

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAB = "bench"
HOSTS = ["bench1", "bench2", "bench3"]
VIEWS = ("is-member", "get-primary", "is-primary", "device-present", "is-consistent", "sync-rest", "replay-rest", "is-split-brain")


def labctl(*args):
    return subprocess.run([sys.executable, os.path.join(REPO, "lab", "labctl.py"), "--name", LAB] + list(args),
                          check=True, capture_output=True, text=True).stdout


def on(host, script):
    return labctl("exec", host, "--", "bash", "-c", script)


def make_disks(count):
    # Each host: N sparse 8 MiB images behind loop devices, reachable as /dev/bench1..N.
    script = """
set -e
mkdir -p /var/lib/bench
for i in $(seq 1 %d); do
  img=/var/lib/bench/d$i.img; [ -e $img ] || truncate -s 8M $img
  nr=$(python3 -c 'import fcntl; c = open("/dev/loop-control", "rb"); print(fcntl.ioctl(c.fileno(), 0x4C82))')
  [ -e /dev/loop$nr ] || mknod /dev/loop$nr b 7 $nr
  losetup /dev/loop$nr $img
  ln -sfn /dev/loop$nr /dev/bench$i
done
""" % count
    for host in HOSTS:
        on(host, script)


def drop_disks():
    # The loop devices belong to the machine's kernel, not to the containers: free them first.
    for host in HOSTS:
        try:
            on(host, "systemctl stop mars-emulator 2>/dev/null; for d in /dev/bench*; do [ -L $d ] && losetup -d $(readlink $d); done; true")
        except subprocess.CalledProcessError:
            pass


def playbook(path, fleet, tags=None):
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as handle:
        yaml.safe_dump({"mars_resources": fleet, "mars_resources_timeout": 1800}, handle)
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"))
    argv = [os.path.join(REPO, ".venv", "bin", "ansible-playbook"), "-i", os.path.join(REPO, "build", "inventories", LAB),
            "-e", "@" + handle.name, path]
    start = time.monotonic()
    result = subprocess.run(argv + (tags or []), env=env, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - start
    os.unlink(handle.name)
    if result.returncode != 0:
        raise SystemExit("%s failed:\n%s" % (path, result.stdout[-3000:]))
    return elapsed, result.stdout


def main():
    counts = [int(a) for a in sys.argv[1:]] or [1, 10, 50]
    resources_only = os.path.join(REPO, "build", "bench-resources.yml")
    with open(resources_only, "w", encoding="utf-8") as handle:
        handle.write("---\n- name: The resources role alone\n  hosts: mars\n  gather_facts: false\n"
                     "  roles:\n    - role: georep.mars.resources\n")
    info_only = os.path.join(REPO, "build", "bench-info.yml")
    with open(info_only, "w", encoding="utf-8") as handle:
        handle.write("---\n- name: Read every resource's state\n  hosts: mars\n  gather_facts: false\n"
                     "  tasks:\n    - name: Info\n      georep.mars.info:\n")
    print("%6s %14s %16s %12s %22s" % ("N", "rollout s", "no-op resources s", "info s", "marsadm views s/host"))
    for count in counts:
        drop_disks()
        labctl("down", "--volumes")
        labctl("up")
        make_disks(count)
        fleet = [{"name": "b%d" % i, "disk": "/dev/bench%d" % i, "replicas": HOSTS, "primary": HOSTS[i % 3]}
                 for i in range(1, count + 1)]
        rollout, _out = playbook(os.path.join(REPO, "playbooks", "site.yml"), fleet)
        noop, out = playbook(resources_only, fleet)
        if "changed=0" not in out:
            raise SystemExit("the second run of the resources role changed something:\n" + out[-2000:])
        info, _out = playbook(info_only, fleet)
        start = time.monotonic()
        on(HOSTS[0], "for r in %s; do for v in %s; do marsadm view-$v $r >/dev/null 2>&1; done; done"
           % (" ".join(r["name"] for r in fleet), " ".join(VIEWS)))
        views = time.monotonic() - start
        print("%6d %14.1f %16.1f %12.1f %22.1f" % (count, rollout, noop, info, views), flush=True)
    drop_disks()
    labctl("down", "--volumes")


if __name__ == "__main__":
    main()

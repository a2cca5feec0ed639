"""How the wall time of a no-op run grows with the number of resources (1, 10, 50) on 3 lab hosts.

For each N the bench makes a fresh lab (``labctl --name bench``), gives every host N small loop
disks (``/dev/benchK``), rolls out N resources replicated on all 3 hosts with ``site.yml``, and
then times what an operator repeats: a second, no-op run of the ``resources`` role (it reads the
state of all resources with one pass over ``/mars`` per task) and one ``georep.mars.info`` call.
For comparison it times what reading the same state with one ``marsadm view-*`` call per
resource and view would cost (the approach the modules avoid).

Run as root: ``.venv/bin/python bench/noop_scaling.py [--vs REV] [N ...]`` (default 1 10 50;
N=50 takes several minutes to roll out). Prints one line per N: the rollout, the no-op
``site.yml`` (the operator's scheduled proof that the fleet matches the inventory) with the
tasks it executed per host (ok + changed), the no-op ``resources`` role, one ``info`` call.
With ``--vs REV`` the same no-op runs of the collection at git revision REV (a worktree under
build/) alternate with the current ones on the same lab, so both see the same load.

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
import re
import subprocess
import sys
import tempfile
import time

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAB = "bench"
HOSTS = ["bench1", "bench2", "bench3"]


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


def playbook(path, fleet, collections=None):
    """Wall time, output and executed tasks per host (ok + changed) of one ansible-playbook run."""
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as handle:
        # One emulator for both revisions: another one would be installed, a change.
        yaml.safe_dump({"mars_resources": fleet, "mars_resources_timeout": 1800,
                        "mars_kmod_emulator_source": os.path.join(REPO, "emulator")}, handle)
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    if collections:
        env["ANSIBLE_COLLECTIONS_PATH"] = collections
    argv = [os.path.join(REPO, ".venv", "bin", "ansible-playbook"), "-i", os.path.join(REPO, "build", "inventories", LAB),
            "-e", "@" + handle.name, path]
    start = time.monotonic()
    result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - start
    os.unlink(handle.name)
    if result.returncode != 0:
        raise SystemExit("%s failed:\n%s" % (path, result.stdout[-3000:]))
    tasks = [int(ok) + int(changed) for ok, changed in re.findall(r"^\S+\s+: ok=(\d+)\s+changed=(\d+)", result.stdout, re.M)]
    return elapsed, result.stdout, max(tasks or [0])


def worktree(rev):
    """The collection at REV, for --vs: a git worktree under build/, its collections path."""
    path = os.path.join(REPO, "build", "bench-vs")
    subprocess.run(["git", "-C", REPO, "worktree", "remove", "--force", path], capture_output=True, check=False)
    subprocess.run(["git", "-C", REPO, "worktree", "add", "--detach", path, rev], capture_output=True, check=True)
    return os.path.join(path, "playbooks", "collections")


def noop(path, fleet, collections=None):
    elapsed, out, tasks = playbook(path, fleet, collections)
    if re.search(r"changed=[1-9]", out):
        raise SystemExit("a second run of %s changed something:\n%s" % (path, out[-2000:]))
    return elapsed, tasks


def write_play(name, text):
    path = os.path.join(REPO, "build", name)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path


def main():
    args = sys.argv[1:]
    old = None
    if args[:1] == ["--vs"]:
        old, args = worktree(args[1]), args[2:]
    counts = [int(a) for a in args] or [1, 10, 50]
    site = os.path.join(REPO, "playbooks", "site.yml")
    resources_only = write_play("bench-resources.yml", "---\n- name: The resources role alone\n  hosts: mars\n"
                                "  gather_facts: false\n  roles:\n    - role: georep.mars.resources\n")
    info_only = write_play("bench-info.yml", "---\n- name: Read every resource's state\n  hosts: mars\n"
                           "  gather_facts: false\n  tasks:\n    - name: Info\n      georep.mars.info:\n")
    print("load average %s, %s" % (" ".join("%.1f" % x for x in os.getloadavg()), time.strftime("%Y-%m-%d %H:%M")))
    columns = ("N", "rollout s", "no-op site s", "tasks/host", "no-op resources s", "info s")
    if old:
        columns += ("vs: no-op site s", "vs: tasks/host", "vs: no-op resources s")
    print(" ".join("%17s" % c for c in columns))
    for count in counts:
        drop_disks()
        labctl("down", "--volumes")
        labctl("up")
        make_disks(count)
        fleet = [{"name": "b%d" % i, "disk": "/dev/bench%d" % i, "replicas": HOSTS, "primary": HOSTS[i % 3]}
                 for i in range(1, count + 1)]
        rollout, _out, _tasks = playbook(site, fleet)
        row = [count, rollout]
        if old:
            # Alternate old and new so that both see the same load.
            old_site, old_tasks = noop(site, fleet, old)
            site_s, tasks = noop(site, fleet)
            old_resources = noop(resources_only, fleet, old)[0]
            resources_s = noop(resources_only, fleet)[0]
        else:
            site_s, tasks = noop(site, fleet)
            resources_s = noop(resources_only, fleet)[0]
        info, _out, _tasks = playbook(info_only, fleet)
        row += [site_s, tasks, resources_s, info]
        if old:
            row += [old_site, old_tasks, old_resources]
        print(" ".join("%17s" % (("%.1f" % v) if isinstance(v, float) else v) for v in row), flush=True)
    drop_disks()
    labctl("down", "--volumes")


if __name__ == "__main__":
    main()

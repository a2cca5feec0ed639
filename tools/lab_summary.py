"""The end of 'make lab': what is up (hosts, resources, who is primary, in sync or not), as
georep.mars.info reports it from each host, and what to try next."""

import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INVENTORY = os.path.join(REPO, "inventories", "lab")


def facts_by_host():
    """georep.mars.info of every host of the lab's group 'mars' (ad hoc, one line per host)."""
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    result = subprocess.run(["ansible", "-i", INVENTORY, "mars", "-m", "georep.mars.info", "-o"],
                            capture_output=True, text=True, env=env, timeout=300, check=False)
    facts = {}
    for line in result.stdout.splitlines():
        host, unused_sep, rest = line.partition(" | ")
        if rest.startswith("SUCCESS => "):
            facts[host] = json.loads(rest[len("SUCCESS => "):])
        else:
            print("lab: %s did not answer: %s" % (host, rest[:200]), file=sys.stderr)
    return facts


def main():
    facts = facts_by_host()
    if not facts:
        print("lab: no host answered georep.mars.info; is the lab up? (make lab-up, then make site)", file=sys.stderr)
        return 1
    print("lab: hosts up: %s" % ", ".join("%s (%s)" % (h, f["cluster"]["ip"]) for h, f in sorted(facts.items())))
    resources = {}
    for host, host_facts in sorted(facts.items()):
        for name, res in host_facts["resources"].items():
            if res.get("member"):
                resources.setdefault(name, {})[host] = res
    for name, members in sorted(resources.items()):
        primaries = sorted(h for h, r in members.items() if r["is_primary"])
        behind = sorted(h for h, r in members.items()
                        if not r["is_primary"] and (r["sync_rest"] or r["fetch_rest"] or r["replay_rest"] or not r["consistent"]))
        print("lab: %s: primary %s, replicas %s, %s" % (
            name, " ".join(primaries) or "none", " ".join(sorted(members)),
            "in sync" if not behind else "catching up on " + " ".join(behind)))
    example = sorted(resources)[0] if resources else "r1"
    secondary = next((h for h, r in sorted(resources.get(example, {}).items()) if not r["is_primary"]), "mars2")
    print("""try next:
  ansible-playbook playbooks/handover.yml -e handover_resource={res} -e handover_target={host}   # planned handover
  lab/labctl partition site-a site-b                                          # cut the geo link
  ansible-playbook playbooks/failover.yml -e failover_lost_site=site-a -e confirm_failover=yes
  lab/labctl heal; ansible-playbook playbooks/split_brain.yml -e split_brain_loser_site=site-a -e confirm_split_brain=yes
  make lab-down                                                               # stop the lab""".format(res=example, host=secondary))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Write docs/realmars-report.md from build/realmars/vm.json and, when there, podman.json.

Each file is the step list tests/realmars/test_realmars.py recorded on one fleet: the VM lab with
the real MARS module, or a Podman lab with the emulator for the comparison column.
"""

import json
import os
import re
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(REPO, "build", "realmars")


def load(fleet):
    path = os.path.join(RESULTS, fleet + ".json")
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def main():
    real = load("vm")
    if real is None:
        print("realmars_report: no %s/vm.json: run 'make realmars' first" % RESULTS, file=sys.stderr)
        return 2
    emulated = load("podman") or {"steps": [], "date": "not run"}
    by_name = {s["step"]: s for s in emulated["steps"]}
    commit = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            check=False).stdout.strip()
    lines = [
        "# The collection on the real MARS module: `make realmars`",
        "",
        "Written by `tools/realmars_report.py` from the step times `tests/realmars/test_realmars.py` recorded.",
        "",
        "- Real module: %s, commit %s, on a machine with %d cores: three qemu VMs under TCG (no KVM), "
        "Debian bullseye, kernel 5.10.0-30-amd64, MARS WIP-qio-for-5.10 at 84810029 built once with "
        "DKMS in a bullseye container and installed on the VMs as a package." % (real["date"], commit, os.cpu_count() or 0),
        "- Emulator: %s, the same steps on three Podman lab hosts (`GEOREP_REALMARS_FLEET=podman`); its "
        "\"lab up\" includes building the Podman image when it is not cached." % emulated["date"],
        "",
        "| step | real module | time (real) | time (emulator) | real / emulator |",
        "|---|---|---|---|---|",
    ]
    for step in real["steps"]:
        other = by_name.get(step["step"])
        ratio = "%.1f" % (step["seconds"] / other["seconds"]) if other and other["seconds"] > 0 else ""
        lines.append("| %s | %s | %.0f s | %s | %s |" % (
            step["step"], "pass" if step["passed"] else "**FAIL**", step["seconds"],
            ("%.0f s%s" % (other["seconds"], "" if other["passed"] else " (failed)")) if other else "—", ratio))
    total_real = sum(s["seconds"] for s in real["steps"])
    total_emulated = sum(s["seconds"] for s in emulated["steps"])
    lines += ["| **all steps** | | **%.0f s** | **%s** | |" % (total_real, ("%.0f s" % total_emulated) if total_emulated else "—"), ""]
    lines += ["pytest's outcome of each run. Three tests are not timed steps: the VMs run the build host's package "
              "(no compiler, headers or DKMS on them), a host of another kernel is told which package or headers are "
              "missing, and the VM lab's faults (partition, delay, heal); the emulator run skips them.", ""]
    for fleet in ("vm", "podman"):
        path = os.path.join(RESULTS, "pytest-%s.txt" % fleet)
        if os.path.exists(path):
            with open(path, encoding="utf-8") as handle:
                outcome = [line.strip() for line in handle
                           if line.startswith(("PASSED", "FAILED", "SKIPPED", "ERROR")) or re.match(r"^=* ?[0-9]+ (passed|failed)", line)]
            lines += ["- %s:" % ("real module" if fleet == "vm" else "emulator"), "", "```"] + outcome[-20:] + ["```", ""]
    out = os.path.join(REPO, "docs", "realmars-report.md")
    with open(out, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines))
    print("realmars_report: wrote %s" % out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

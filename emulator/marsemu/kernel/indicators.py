"""The "LED" links the kernel writes for marsadm: global ``actual-HOST/*`` and per-resource ones.

Names and values follow the real module (traces/real-mars-A): ``time`` and ``alive`` are rewritten
on every main-loop pass, the static global ones only when they change, and every per-resource
indicator when it changes and at least once per real main-loop round (marsadm's race guards want
them fresh; ``Tree.set_unless_newer``).
"""

import os

from marsemu.common import DELETED, format_stamp, link_stamp
from marsemu.kernel.procsys import BUILDTAG

TREE_VERSION = "0.1"
FEATURES = "4,5,0x05170000"
# marsadm reads the number right before "(" (177 > 97: device presence comes from if-on)
BUILDTAG_LINK = BUILDTAG + "(2026-11-25 00:00:00)"

MESSAGES = (
    "msg-err-bad-log-name", "msg-err-emergency", "msg-err-log-not-contiguous",
    "msg-err-replay-stop", "msg-err-replaylink-not-readable", "msg-err-sequence-trash",
    "msg-err-space-low", "msg-err-splitbrain-detected", "msg-err-versionlink-not-readable",
    "msg-err-versionlink-skip", "msg-inf-fetch", "msg-inf-log-foreign-denied",
    "msg-inf-replay-not-yet-finished", "msg-inf-replay-start", "msg-inf-replay-tolerance",
    "msg-inf-sync", "msg-inf-sync-start", "msg-inf-versionlink-not-equal",
    "msg-inf-versionlink-not-yet-exist", "msg-wrn-log-consecutive", "msg-wrn-space-low",
)
RATES = tuple("%s-%s_rate" % (kind, what) for kind in ("amount", "ops")
              for what in ("file", "if", "replay", "sync"))
# what the real module's last pass over a resource this host has left still writes (as recorded,
# A11c/A12b): these show 0 there, every other indicator keeps the .deleted of leave-resource
LEFT = ("is-attached", "is-copying", "is-replaying", "is-syncing",
        "amount-file_rate", "amount-replay_rate", "amount-sync_rate")


def write_global(tree, static_done, space):
    """``/mars/actual-HOST/``; ``static_done`` says the once-per-load links are written.

    ``space`` (a ``SpaceGuard``) gives the emergency level and the space above the free-space
    limits, in GiB, as ``compute_emergency_mode`` publishes them.
    """
    base = "actual-" + tree.host
    os.makedirs(tree.path(base), exist_ok=True)
    if not static_done:
        for name, value in (("tree", TREE_VERSION), ("features", FEATURES), ("buildtag", BUILDTAG_LINK),
                            ("compat-alivelinks", "0"), ("usable", FEATURES),
                            ("used-log-compression", "0"), ("used-log-digest", "0"),
                            ("used-net-compression", "0"), ("used-net-digest", "0")):
            tree.set_if_changed(base + "/" + name, value)
    tree.set_if_changed(base + "/emergency", str(space.mode))
    tree.set_if_changed(base + "/rest-space", str(space.remaining_kib // (1024 * 1024)))
    tree.set_if_changed(base + "/total-space", str(max(0, space.present_kib) // (1024 * 1024)))
    stamp = tree.clock.now()
    tree.set(base + "/time", format_stamp(stamp), stamp)
    tree.set(base + "/alive", "1", stamp)


def write_resource(tree, res, state, device_up, messages, since):
    """``resource-RES/actual-HOST/*`` from ``state``, a dict of indicator name to value, except links
    written after ``since`` (the start of the pass).

    ``messages`` maps ``msg-*`` names to the values of active messages; the others show ``OK``.

    Like the real module, the device's own links (``if-*`` besides ``if-on``, ``*-if_rate``)
    appear once the device has been up on this host.
    """
    base = "resource-%s/actual-%s/" % (res, tree.host)
    os.makedirs(tree.path(base), exist_ok=True)
    for name in MESSAGES:
        tree.set_unless_newer(base + name, messages.get(name, "OK"), since)
    for name in RATES:
        if device_up or not name.endswith("-if_rate"):
            tree.set_unless_newer(base + name, "0", since)
    # is-primary last: whoever sees it flip finds the other indicators of that pass in place
    for name, value in sorted(state.items(), key=lambda item: item[0] == "is-primary"):
        tree.set_unless_newer(base + name, str(value), since)


def write_left(tree, res):
    """``resource-RES/actual-HOST/*`` once after this host left RES: LEFT as 0, every other indicator
    ``.deleted``. False while leave-resource's marks are still landing: marsadm stamps its batch once
    (``data-HOST`` comes first) and renames the links one by one, so an indicator older than
    ``data-HOST``'s mark is still to be replaced. A pass that raced the batch and rewrote an indicator
    after its mark is undone here."""
    base = "resource-%s/actual-%s/" % (res, tree.host)
    left_at = link_stamp(tree.path("resource-%s/data-%s" % (res, tree.host)))
    if not os.path.isdir(tree.path(base)) or left_at is None:
        return True
    names = [name for name in os.listdir(tree.path(base)) if not name.startswith(".")]
    if any((link_stamp(tree.path(base + name)) or 0) < left_at for name in names):
        return False
    for name in LEFT:
        tree.set(base + name, "0")
    for name in names:
        if name not in LEFT and tree.get(base + name) is not None:
            tree.set(base + name, DELETED)
    return True

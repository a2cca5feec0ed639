"""``view`` and ``view-*``: the primitive macros (machine-readable) and the complex ones
(``default``, ``diskstate``, ``replstate``, ``flags``, ``role`` …) computed like marsadm's templates.

Output rules kept from marsadm: an empty result prints nothing; otherwise one trailing newline.
Perl values are reproduced: booleans are ``1``/``0`` or raw link values, "false" may be empty.
"""

import os
import re
import stat
import time

from marsemu import common
from marsemu.marsadm import lookup, resource, waits
from marsemu.marsadm.runtime import NSEC

# marsadm's %trivial_globs: the primitives reachable as view-NAME
PRIMITIVE_GLOBS = [
    "{all,the}-{pretty-,}{global-,}{{err,wrn,inf}-,}msg",
    "{is,todo,nr}-{attach,sync,fetch,replay,primary,secondary}",
    "is-{split-brain,consistent,emergency,orphan}",
    "is-{member,guest}",
    "{rest,total}-space",
    "get-{disk,device}",
    "present-{disk,device}",
    "disk-error",
    "{disk,device}-present",
    "device-{opened,nrflying,error,completion-{stamp,age}}",
    "known-device-{mounted,mountpoint,fstype,mountflags}",
    "{my,all}-{resources,members,guests}",
    "count-{my,all}-{resources,members,guests}",
    "{cluster,resource}-members",
    "count-{cluster,resource,guest}-members",
    "{cluster,resource,guest}-peers",
    "count-{cluster,resource,guest}-peers",
    "configured-peers",
    "count-configured-peers",
    "{disk,resource,device}-size",
    "resource-possible-size",
    "deletable-size",
    "occupied-size",
    "replay-code",
    "{sync,fetch,replay,work,syncpos}-{size,pos}",
    "{sync,fetch,replay,work}-{rest,{almost-,threshold-,}reached,percent,permille,vector}",
    "writeback-rest",
    "{sync,fetch,replay}-{ops-rate,amount-rate,rate,remain}",
    "device-{ops-rate,amount-rate,rate}",
    "replay-basenr",
    "{fetch,replay,work}-{lognr,logcount}",
    "summary-vector",
    "{time,real-time}",
    "{alive,fetch,replay,work}-{timestamp,age,lag}",
    "global-sync-limit-value",
    "{get,actual}-primary",
    "is-{alive}",
    "systemd-unit",
    "uuid",
    "tree",
    "wait-{is,todo}-{attach,sync,fetch,replay,primary,secondary}-{on,off}",
]

FEATURE_FLAGS = {
    0x00010000: "CHKSUM_MD5_OLD", 0x00020000: "CHKSUM_MD5", 0x00040000: "CHKSUM_CRC32C",
    0x00080000: "CHKSUM_CRC32", 0x00100000: "CHKSUM_SHA1",
    0x01000000: "COMPRESS_LZO", 0x02000000: "COMPRESS_LZ4", 0x04000000: "COMPRESS_ZLIB",
}
CHKSUM_MASK = 0x001F0000
COMPRESS_MASK = 0x07000000

COMPLEX = ("default", "diskstate", "replstate", "flags", "role", "todo-role", "primarynode", "commstate",
           "1and1", "device-info", "syncinfo", "replinfo", "default-resource", "state", "cstate", "dstate",
           "status", "diskstate-1and1", "replstate-1and1", "flags-1and1", "role-1and1", "primarynode-1and1")


def brace_expand(text):
    match = re.search(r"\{([^{}]*)\}", text)
    if not match:
        return [text]
    result = []
    for choice in match.group(1).split(","):
        result.extend(brace_expand(text[:match.start()] + choice + text[match.end():]))
    return result


PRIMITIVES = {name for pattern in PRIMITIVE_GLOBS for name in brace_expand(pattern)}


def perl_num(value):
    """Print a number like Perl does (integers without a fraction)."""
    if isinstance(value, bool):
        return "1" if value else ""
    if isinstance(value, float):
        if value == int(value):
            return str(int(value))
        return "%.15g" % value
    return str(value)


def numeric(value):
    """marsadm ``make_numeric``: '' -> 0, strip ``,…`` tails."""
    if value is None or value == "":
        return 0
    text = str(value).split(",", maxsplit=1)[0]
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return 0


class View:
    """Evaluation environment of one macro run (marsadm's ``%env``)."""

    def __init__(self, ses, cmd, res, arg1=""):
        self.ses = ses
        self.cmd = cmd
        self.res = res or ""
        self.host = ses.host
        self.resdir = ses.resdir(res) if res else ses.mpath("resource-")
        self.arg1 = arg1 or ""
        self._member = None

    @property
    def member(self):
        if self._member is None:
            self._member = lookup.Membership(self.ses)
        return self._member

    def link(self, name, unchecked=1):
        return self.ses.get_link(os.path.join(self.resdir, name), unchecked)

    # ---------------------------------------------------------------- primitive dispatcher
    def prim(self, name, arg1=""):  # pylint: disable=too-many-return-statements,too-many-branches
        ses = self.ses
        name = name.replace("_", "-")
        if name == "is-module-loaded":
            return 1 if ses.module_loaded() else ""
        match = re.match(r"^is-(member|guest)$", name)
        if match:
            res = arg1 or self.res
            if match.group(1) == "member":
                return 1 if self.member.is_member(res, self.host) else 0
            return 1 if self.member.is_guest(res, self.host) else 0
        match = re.match(r"^(count-?)?(cluster|resource|guest)-?(members|peers)$", name)
        if match:
            if match.group(3) == "members":
                ses.warn("deprecated: please use macro '%s' instead of '%s'\n" % (name.replace("members", "peers"), name))
            kind = match.group(2)
            if kind == "cluster":
                peers = self.member.total_peer_list()
            elif kind == "guest":
                peers = self.member.guest_peers(self.res)
            else:
                peers = self.member.member_peers(self.res)
            if match.group(1):
                return len(peers)
            return "".join(p + "\n" for p in peers)
        match = re.match(r"^(count-?)?(my|all)-?(resources|members|guests)$", name)
        if match:
            peer = (arg1 or self.host) if match.group(2) == "my" else ""
            if match.group(3) == "guests":
                items = self.member.guest_resources(peer)
            elif match.group(3) == "members":
                items = self.member.member_resources(peer)
            else:
                items = self.member.total_resource_list(peer)
            if match.group(1):
                return len(items)
            return "".join(i + "\n" for i in items)
        match = re.match(r"^(count-?)?configured-?peers$", name)
        if match:
            peers = lookup.configured_peers(ses)
            return len(peers) if match.group(1) else "".join(p + "\n" for p in peers)
        match = re.match(r"^(get|todo|actual)-?primary$", name)
        if match:
            if match.group(1) == "actual":
                ses.warn("DEPRECATED: you are trying to uniquely identify an actual primary hostname, but this is"
                         " conceptually wrong because in split-brain situations there may exist multiple ones. Use"
                         " view-is-primary instead. That would be safe.\n")
                primary = self.actual_primary()
            else:
                primary = lookup.designated_primary(ses, self.res)
            if not primary or primary == "(none)":
                primary = ""
            if match.group(1) == "todo":
                return 1 if primary == self.host else ""
            return primary
        if re.match(r"^todo-?secondary$", name):
            return 1 if self.prim("get-primary") == "(none)" else 0
        match = re.match(r"^todo-?(attach|sync|fetch|replay)?$", name)
        if match:
            what = match.group(1) or arg1
            return ses.get_link(waits.correct_path(os.path.join(self.resdir, "todo-" + self.host, what)), 1)
        match = re.match(r"^(all|the)-(pretty-?)?(global-?)?((?:err|wrn|inf)-)?(msg|count)$", name)
        if match:
            return self.messages(match.group(1) == "the", match.group(3), match.group(4) or "", match.group(5))
        if name == "global-sync-limit-value":
            return ses.get_link(ses.mpath("defaults-" + self.host, "sync-limit"), 2)
        if re.match(r"^is-?alive$", name):
            peer = arg1 or lookup.designated_primary(ses, self.res) if self.res else arg1
            peer = peer or self.host
            stamp = common.parse_stamp(lookup.alive_link(ses, "time", peer, 1))
            return 1 if ses.is_recent(stamp, ses.opts.window) else 0
        if re.match(r"^alive-?timestamp$", name):
            peer = arg1 or (lookup.designated_primary(ses, self.res) if self.res else "")
            if not peer or peer == "(none)":
                return -1
            value = lookup.alive_link(ses, "time", peer, 2)
            if value:
                return value
            return ses.stamp(ses.mpath("actual-" + peer, "alive")) // NSEC
        if re.match(r"^is-?orphan$", name):
            return self.is_orphan(arg1 or self.host)
        match = re.match(r"^is-?(almost-?)?consistent$", name)
        if match:
            return self.is_consistent(bool(match.group(1)))
        if re.match(r"^get-?disk$", name):
            return self.link("data-" + self.host, 1)
        if re.match(r"^get-?device$", name):
            return lookup.device_name(ses, self.res, self.host)
        if re.match(r"^disk-?error$", name):
            return self.link("actual-%s/disk-error" % self.host, 2)
        if re.match(r"^disk-?present$", name):
            disk = self.link("data-" + self.host, 1)
            if not disk:
                return disk
            # data-HOST names a real disk, never a path below the emulation root
            if not os.path.exists(disk):
                return "0"
            return 1 if _is_blk(disk) else ""
        if re.match(r"^device-?present$", name):
            return lookup.device_exists(ses, self.res, self.host)
        match = re.match(r"^present-?(disk|device)$", name)
        if match:
            return self.prim("%s-present" % match.group(1), arg1)
        match = re.match(r"^device-?(opened|nrflying|error|completion-stamp|completion-age)$", name)
        if match:
            transl = {"opened": "open-count", "nrflying": "if-flying", "error": "if-state",
                      "completion-stamp": "if-completion-stamp", "completion-age": "if-completion-stamp"}
            value = self.link("actual-%s/%s" % (self.host, transl[match.group(1)]), 2)
            if not lookup.truthy(value):
                return 0
            if match.group(1) == "completion-age":
                return max(ses.mars_time() // NSEC - int(numeric(value)), 0)
            return value
        match = re.match(r"^known-?device-?(mounted|mountpoint|fstype|mountflags)$", name)
        if match:
            return self.known_mount(match.group(1))
        if re.match(r"^is-?split(-?brain)?$", name):
            # the answer of the pre-check is reused, as marsadm's detect_splitbrain caches it
            return 0 if lookup.detect_splitbrain(ses, self.res, False) else 1
        match = re.match(r"^is-?(attach|sync|fetch|replay|primary|secondary|emergency)$", name)
        if match:
            what = match.group(1)
            prefix = "has" if what == "emergency" else "is"
            peer = arg1 or self.host
            value = ses.get_link(waits.correct_path(os.path.join(self.resdir, "actual-" + peer, "%s-%s" % (prefix, what))), 1)
            if what == "secondary":
                return 0 if lookup.truthy(value) else 1
            return value
        match = re.match(r"^nr-?(attach|sync|fetch|replay|primary|secondary)$", name)
        if match:
            what = match.group(1)
            count = 0
            for peer in self.member.member_peers(self.res):
                value = ses.get_link(waits.correct_path(os.path.join(self.resdir, "actual-" + peer, "is-" + what)), 1)
                if (not lookup.truthy(value)) if what == "secondary" else lookup.truthy(value):
                    count += 1
            return count
        if name == "does":
            return ses.get_link(waits.correct_path(os.path.join(self.resdir, "actual-" + self.host, "is-" + arg1)), 1)
        match = re.match(r"^(tree|(rest|total)-space)$", name)
        if match:
            return lookup.alive_link(ses, match.group(1), self.host, 1)
        if re.match(r"^systemd-?unit$", name):
            start = self.link("systemd-start-unit", 2)
            stop = self.link("systemd-stop-unit", 2)
            return "%s %s" % (start, stop) if start and stop else start
        if name == "uuid":
            return ses.get_link(ses.mpath("uuid"), 1)
        if re.match(r"^replay-?code$", name):
            return self.link("actual-%s/replay-code" % self.host, 2)
        match = re.match(r"^(device|sync|fetch|replay|work)-?(rate|ops-?rate|amount-?rate|remain)$", name)
        if match:
            return self.rate(match.group(1), match.group(2))
        if re.match(r"^sync-?size$", name):
            return self.link("size", 1)
        if re.match(r"^sync-?pos$", name):
            return self.link("syncstatus-" + self.host, 1)
        if re.match(r"^syncpos-?(size|pos)$", name):
            return self.link("syncpos-" + self.host, 2)
        match = re.match(r"^replay-?(lognr|basenr)$", name)
        if match:
            _sum, first, last, _level = lookup.get_amount(ses, self.res, self.host, -1, True)
            return first if match.group(1) == "lognr" else last
        if re.match(r"^fetch-?lognr$", name):
            return lookup.get_amount(ses, self.res, self.host, 1, True)[2]
        if re.match(r"^work-?lognr$", name):
            return lookup.get_amount(ses, self.res, self.host, 1, False)[2]
        if re.match(r"^replay-?logcount$", name):
            return numeric(self.prim("replay-lognr")) - numeric(self.prim("replay-basenr"))
        match = re.match(r"^(fetch|work)-?logcount$", name)
        if match:
            return numeric(self.prim(match.group(1) + "-lognr")) - numeric(self.prim("replay-lognr"))
        if re.match(r"^writeback-?rest$", name):
            return lookup.get_amount(ses, self.res, self.host, 1, False)[0]
        if re.match(r"^(replay|work)-?pos$", name):
            return lookup.get_amount(ses, self.res, self.host, -1, False)[0]
        if re.match(r"^(replay-?size|fetch-?pos)$", name):
            return (lookup.get_amount(ses, self.res, self.host, -1, False)[0]
                    + lookup.get_amount(ses, self.res, self.host, 1, True)[0])
        if re.match(r"^(fetch|work)-?size$", name):
            return (lookup.get_amount(ses, self.res, self.host, -1, False)[0]
                    + lookup.get_amount(ses, self.res, self.host, 1, False)[0])
        match = re.match(r"^(sync|fetch|replay|work)-?(rest|(?:almost-?|threshold-?)?reached|percent|permille|vector)$", name)
        if match:
            return self.progress_value(match.group(1), match.group(2), arg1)
        if re.match(r"^summary-?vector$", name):
            delim = arg1 or ":"
            return delim.join(perl_num(numeric(self.prim(n))) for n in ("replay-pos", "fetch-pos", "fetch-size"))
        if re.match(r"^occupied-?size$", name):
            return sum(_size(p) for p in ses.glob(os.path.join(self.resdir, "log-*")))
        if re.match(r"^deletable-?size$", name):
            return self.deletable_size()
        match = re.match(r"^(disk|resource|device)-?size$", name)
        if match:
            what = match.group(1)
            if what == "device" and lookup.truthy(self.prim("device-present")):
                return resource.mars_device_size(ses, self.res)
            if what == "disk":
                return self.link("actsize-" + (arg1 or self.host), 1)
            return self.link("size", 1)
        if re.match(r"^resource-?possible-?size$", name):
            return resource.possible_size(ses, self.res)
        if name == "time":
            return "%d.%09d" % divmod(ses.mars_time(), NSEC)
        if re.match(r"^real-?time$", name):
            return int(time.time())
        match = re.match(r"^(replay|fetch|work)-?timestamp$", name)
        if match:
            return self.timestamp(match.group(1), arg1 or self.host)
        match = re.match(r"^(fetch|replay|work|alive)-?age$", name)
        if match:
            stamp = numeric(self.prim(match.group(1) + "-timestamp", arg1))
            if stamp <= 0:
                return -1
            return int(ses.mars_time() // NSEC - stamp)
        match = re.match(r"^(fetch|replay|work|alive)-?lag$", name)
        if match:
            primary = lookup.designated_primary(ses, self.res)
            if not primary or primary == "(none)":
                return -1
            time1 = numeric(self.prim(match.group(1) + "-timestamp", arg1 or self.host))
            time2 = numeric(self.prim(match.group(1) + "-timestamp", primary))
            if time1 <= 0 or time2 <= 0:
                return -1
            return 0 if time1 < time2 else time1 - time2
        match = re.match(r"^wait-?((?:todo|is)-(?:attach|sync|fetch|replay|primary|secondary)-(?:on|off))$", name)
        if match:
            waits.wait_cond(ses, self.cmd, self.res, match.group(1))
            return ""
        return ses.die("cannot find macro '%s'\n" % name)

    # ---------------------------------------------------------------- helpers
    def actual_primary(self):
        for peer in self.member.member_peers(self.res):
            if lookup.truthy(self.ses.get_link(os.path.join(self.resdir, "actual-" + peer, "is-primary"), 2)):
                return peer
        return ""

    def messages(self, shorten, global_only, specific, kind):
        ses = self.ses
        base = ses.mars if (global_only or not self.res) else self.resdir
        result = ""
        count = 0
        for path in ses.glob(os.path.join(base, "actual-" + self.host, "msg-%s*" % specific)):
            value = ses.get_link(path, 1)
            if shorten:
                if value.startswith("OK"):
                    continue
                stamp = re.match(r"^([0-9]+\.[0-9]{9})", value)
                if "-err-" in path and stamp:
                    delta = ses.opts.timeout if ses.opts.timeout > 0 else 30
                    if float(stamp.group(1)) + delta > time.time():
                        continue
            result += "%s: %s\n" % (os.path.basename(path)[4:], value)
            count += 1
        return count if kind == "count" else result

    def is_orphan(self, peer):
        if lookup.truthy(self.prim("is-primary", peer)):
            return 0
        match = re.match(r"^(log-[^,]+),([0-9]*)", self.link("replay-" + peer, 1))
        if not match:
            return 1
        size = _size(os.path.join(self.resdir, match.group(1)), None)
        if size is None:
            return 1
        return 1 if size < int(match.group(2) or 0) else 0

    def is_consistent(self, almost):
        if numeric(self.prim("sync-rest")) > 0:
            return 0
        replay = self.link("replay-" + self.host, 1)
        if not almost and lookup.truthy(self.prim("is-primary")):
            match = re.search(r",[0-9]+,([0-9]+)", replay)
            if match and int(match.group(1)) > 0:
                return 0
        if not replay:
            return 0
        syncpos = self.link("syncpos-" + self.host, 2)
        if syncpos and lookup.compare_replaylinks(syncpos, replay) > 0:
            return 0
        return 1

    def progress_value(self, what, oper, arg1):
        size = numeric(self.prim(what + "-size"))
        pos = numeric(self.prim(what + "-pos"))
        if oper == "rest":
            return size - pos if pos < size else 0
        if oper.startswith("almost"):
            limit = numeric(arg1) if arg1 else 0
            limit = limit if limit > 0 else 990
            return 1 if int(pos / limit) >= int(size / 1000) else 0
        if oper.startswith("threshold"):
            threshold = self.ses.opts.threshold
            return 1 if pos + threshold >= size else 0
        if oper == "reached":
            return 1 if pos >= size else 0
        if oper == "percent":
            value = 100.5 * pos / size if size > 0 else 100
            return 100 if value >= 100.0 else value
        if oper == "permille":
            value = 1000.5 * pos / size if size > 0 else 1000
            return 1000 if value >= 1000.0 else value
        return "%s%s%s" % (perl_num(pos), arg1 or ":", perl_num(size))

    def rate(self, what, select):
        if what == "work":
            val1 = self.rate("fetch", select)
            val2 = self.rate("replay", select)
            if val1 == "" or val2 == "":
                return ""
            if select == "remain":
                return numeric(val1) + numeric(val2)
            return max(numeric(val1), numeric(val2))
        name = "amount_rate" if select in ("rate", "remain") else select.replace("-", "_")
        prefix = {"device": "if", "sync": "sync", "fetch": "file", "replay": "replay"}[what]
        name = name.replace("_", "-%s_" % prefix, 1)
        rate = numeric(self.link("actual-%s/%s" % (self.host, name), 2))
        if select == "remain":
            rest = numeric(self.prim(what + "-rest"))
            if rest <= 0:
                return 0
            if rate <= 0:
                return -1
            return rest / 1024 / rate
        if rate <= 0:
            return 0
        return rate if select.startswith("ops") else rate * 1024

    def timestamp(self, what, peer):
        if what == "replay":
            return self.ses.stamp(os.path.join(self.resdir, "replay-" + peer)) // NSEC
        if what == "fetch":
            paths = self.ses.glob(os.path.join(self.resdir, "version-*-" + peer))
            if not paths:
                return -1
            return self.ses.stamp(paths[-1]) // NSEC
        return max(numeric(self.timestamp("fetch", peer)), numeric(self.timestamp("replay", peer)))

    def deletable_size(self):
        ses = self.ses
        numbers = [common.parse_replay(ses.get_link(p, 1)) for p in ses.glob(os.path.join(self.resdir, "replay-*"))]
        numbers = [n[0] for n in numbers if n]
        if not numbers:
            return 0
        total = 0
        for path in ses.glob(os.path.join(self.resdir, "log-*")):
            match = re.search(r"/log-([0-9]+)-", path)
            if match and int(match.group(1)) < min(numbers):
                total += _size(path)
        return total

    def known_mount(self, what):
        if self.host != self.ses.real_host:
            return ""
        dev = self.prim("get-device")
        if not dev:
            return ""
        try:
            with open("/proc/mounts", encoding="utf-8") as handle:
                for line in handle:
                    fields = line.split()
                    if len(fields) >= 4 and fields[0] == dev:
                        return {"mounted": 1, "mountpoint": fields[1], "fstype": fields[2],
                                "mountflags": fields[3]}[what]
        except OSError:
            pass
        return ""

    # ---------------------------------------------------------------- complex macros
    def device_info(self):
        if not lookup.truthy(self.prim("device-present")):
            return ""
        if lookup.truthy(self.prim("device-opened")):
            stats = "Opened, "
            mountpoint = self.prim("known-device-mountpoint")
            if mountpoint:
                stats += "%s, " % mountpoint
            stats += "%s IOPS" % perl_num(self.prim("device-ops-rate"))
        else:
            stats = "Closed"
        return "  LocalDevice %s [%s]\n" % (self.prim("get-device"), stats)

    def diskstate(self):
        error = self.prim("disk-error")
        if lookup.truthy(error):
            return "DISK_ERROR=%s " % error
        if not self.prim("get-disk"):
            return "NotJoined"
        if not lookup.truthy(self.prim("disk-present")):
            return "NotPresent"
        if not lookup.truthy(self.prim("todo-attach")):
            return "Detaching" if lookup.truthy(self.prim("is-attach")) else "Detached"
        code = self.prim("replay-code")
        if code and numeric(code) < 0:
            base = {-85: "IncompleteLog", -56: "UnInitializedLogRecord"}.get(numeric(code), "DefectiveLog")
            return "%s[%s]" % (base, code)
        if self.is_orphan(self.host):
            return "Orphan"
        if not lookup.truthy(self.prim("is-attach")):
            return "NoAttach"
        if not self.is_consistent(False):
            if not lookup.truthy(self.prim("todo-primary")):
                return "InConsistent"
            return ("WriteBack[%s]" if lookup.truthy(self.prim("is-primary")) else "Recovery[%s]") % human_bytes(
                numeric(self.prim("writeback-rest")))
        if not lookup.truthy(self.prim("work-reached")):
            if not lookup.truthy(self.prim("todo-primary")):
                flags = ("" if lookup.truthy(self.prim("fetch-reached")) else "F") + \
                    ("" if lookup.truthy(self.prim("replay-reached")) else "R")
                return "OutDated[%s]" % flags
            return ("WriteBack[%s]" if lookup.truthy(self.prim("is-primary")) else "Recovery[%s]") % human_bytes(
                numeric(self.prim("writeback-rest")))
        primary = self.prim("get-primary")
        if primary and lookup.truthy(self.ses.get_link(os.path.join(self.resdir, "actual-" + primary, "has-emergency"), 1)):
            return "EmergencyMode"
        return "UpToDate"

    def replstate(self):
        if not self.ses.module_loaded():
            return "ModuleNotLoaded"
        if not self.prim("is-alive", self.host):
            return "UnResponsive"
        if not self.prim("get-disk"):
            return "NotJoined"
        if not lookup.truthy(self.prim("todo-attach")):
            return "NotStarted"
        if lookup.truthy(self.prim("todo-primary")):
            if lookup.truthy(self.prim("is-emergency")):
                return "EmergencyMode"
            if lookup.truthy(self.prim("is-primary")):
                return "Replicating"
            return "NotYetPrimary"
        if numeric(self.prim("sync-rest")) and not lookup.truthy(self.prim("todo-sync")):
            return "PausedSync"
        if lookup.truthy(self.prim("is-sync")):
            return "Syncing"
        if not lookup.truthy(self.prim("todo-fetch")):
            return "PausedFetch"
        if not lookup.truthy(self.prim("todo-replay")):
            return "PausedReplay"
        if not self.prim("get-primary"):
            return "NoPrimaryDesignated"
        if not self.prim("is-alive"):
            return "PrimaryUnreachable"
        if self.is_orphan(self.host):
            return "Orphan"
        return "Replaying"

    def flags(self):
        disk = lookup.truthy(self.prim("disk-present"))
        todo = {w: lookup.truthy(self.prim("todo-" + w)) for w in ("attach", "sync", "fetch", "replay")}
        out = ("D" if lookup.truthy(self.prim("device-present")) else "d") if disk else "-"
        out += "C" if self.is_consistent(False) else ("c" if disk else "-")
        if lookup.truthy(self.prim("does", "attach")):
            out += "A" if todo["attach"] else "a"
        else:
            out += "a" if todo["attach"] else "-"
        for what, letter in (("sync", "S"), ("fetch", "F"), ("replay", "R")):
            if lookup.truthy(self.prim(what + "-reached")):
                out += letter
            else:
                out += letter.lower() if todo[what] else "-"
        return out

    def role(self):
        if not lookup.truthy(self.prim("disk-present")):
            return "None"
        if lookup.truthy(self.prim("todo-primary")):
            if lookup.truthy(self.prim("is-primary")):
                return ("Forced" if numeric(self.prim("nr-primary")) > 1 else "") + "Primary"
            return "NotYetPrimary"
        return "RemainsPrimary" if lookup.truthy(self.prim("is-primary")) else "Secondary"

    def todo_role(self):
        if not lookup.truthy(self.prim("disk-present")):
            return "None"
        return "Primary" if lookup.truthy(self.prim("todo-primary")) else "Secondary"

    def primarynode(self):
        return self.host if lookup.truthy(self.prim("todo-primary")) else self.prim("get-primary")

    def commstate(self):
        comm = numeric(self.prim("alive-age"))
        return seconds2human(comm) if comm >= self.ses.opts.window else ""

    def default(self):
        if not self.prim("is-member"):
            return self.device_info()
        text = self.device_info()
        text += "  %s [%d/%d] %s %s %s %s %s %s\n" % (
            self.res, numeric(self.prim("count-resource-peers")), numeric(self.prim("count-configured-peers")),
            self.diskstate(), self.replstate(), self.flags(), self.role(), self.primarynode(), self.commstate())
        res_size = numeric(self.prim("resource-size"))
        wasted = numeric(self.prim("disk-size")) - res_size
        if wasted > self.ses.opts.threshold:
            text += "     Hint: you are wasting %s on disk %s\n" % (human_bytes(wasted), self.prim("get-disk"))
        possible = numeric(self.prim("resource-possible-size"))
        if possible > res_size:
            text += "     Hint: marsadm resize would increase resource %s by %s\n" % (self.res, human_bytes(possible - res_size))
        if not lookup.truthy(self.prim("is-primary")) and lookup.truthy(self.prim("is-attach")):
            if not lookup.truthy(self.prim("sync-reached")):
                text += syncinfo(self)
            if not lookup.truthy(self.prim("work-reached")):
                text += replinfo_view(self)
        return text

    def default_resource(self):
        if not self.res:
            return ""
        return "%s %s [%d/%d]" % (self.res, human_bytes(numeric(self.prim("resource-size"))),
                                  numeric(self.prim("count-resource-peers")),
                                  numeric(self.prim("count-configured-peers")))

    def one_and_one(self):
        if not self.res:
            return self.messages(True, True, "", "msg")
        disk = lookup.truthy(self.prim("disk-present"))
        if disk:
            if lookup.truthy(self.prim("does", "attach")):
                if self.is_consistent(True):
                    if lookup.truthy(self.prim("work-reached")):
                        dstate = "Uptodate"
                    else:
                        dstate = "Outdated[%s%s]" % ("" if lookup.truthy(self.prim("fetch-reached")) else "F",
                                                     "" if lookup.truthy(self.prim("replay-reached")) else "R")
                else:
                    dstate = "Inconsistent"
            else:
                dstate = "Detached"
            if lookup.truthy(self.prim("is-primary")):
                rstate = "Replicating"
            elif not self.prim("is-alive"):
                rstate = "PrimaryUnreachable"
            elif not lookup.truthy(self.prim("sync-reached")) and not lookup.truthy(self.prim("todo-sync")):
                rstate = "PausedSync"
            elif lookup.truthy(self.prim("does", "sync")):
                rstate = "Syncing"
            elif not (lookup.truthy(self.prim("todo-fetch")) and lookup.truthy(self.prim("todo-replay"))):
                rstate = "PausedReplay"
            else:
                rstate = "Replaying"
            role = "Primary" if lookup.truthy(self.prim("is-primary")) else "Secondary"
            if lookup.truthy(self.prim("is-primary")):
                pnode = self.host
            else:
                pnode = self.prim("actual-primary") or "-"
        else:
            dstate, rstate, role, pnode = "Detached", "NotJoined", "Secondary", "-"
        flags = "-%s%s%s-" % ("S" if lookup.truthy(self.prim("todo-sync")) else "-",
                              "F" if lookup.truthy(self.prim("todo-fetch")) else "-",
                              "R" if lookup.truthy(self.prim("todo-replay")) else "-")
        return "  %s %s %s %s %s %s\n" % (self.res, dstate, rstate, flags, role, pnode)

    def complex(self, name):
        table = {
            "default": self.default, "diskstate": self.diskstate, "replstate": self.replstate,
            "flags": self.flags, "role": self.role, "todo-role": self.todo_role,
            "primarynode": self.primarynode, "commstate": self.commstate, "1and1": self.one_and_one,
            "device-info": self.device_info, "default-resource": self.default_resource,
            "syncinfo": lambda: syncinfo(self), "replinfo": lambda: replinfo_view(self),
        }
        if name in table:
            return table[name]()
        return self.ses.die("cannot find macro '%s'\n" % name)


def flags_text(flags, skip_unknown=False):
    """Feature bits as ``NAME|NAME`` (unknown bits as hex unless skipped)."""
    names = []
    for bit in range(32):
        mask = 1 << bit
        if flags & mask:
            if mask in FEATURE_FLAGS:
                names.append(FEATURE_FLAGS[mask])
            elif not skip_unknown:
                names.append("0x%x" % mask)
    return "|".join(names)


def _link_flags(value):
    match = re.search(r",(0x[0-9a-fA-F]*)", value or "")
    if match:
        return int(match.group(1), 16)
    value = (value or "").strip()
    if value.startswith("0x"):
        return int(value, 16)
    return int(value) if value.isdigit() else 0


def default_header(ses):
    """``view all`` preamble: used compression/digest features (as in marsadm's default-header)."""
    usable = _link_flags(lookup.alive_link(ses, "usable", ses.host, 2))

    def used(name, mask):
        return flags_text(_link_flags(lookup.alive_link(ses, "used-" + name, ses.host, 2)) & mask)
    text = ""
    if flags_text(usable & COMPRESS_MASK, True):
        text += 'used-log-compression="%s"\n' % used("log-compression", COMPRESS_MASK)
        text += 'used-net-compression="%s"\n' % used("net-compression", COMPRESS_MASK)
    if flags_text(usable & CHKSUM_MASK, True):
        # marsadm prints the log digest twice (its template reuses the log value for net)
        text += 'used-log-digest="%s"\n' % used("log-digest", CHKSUM_MASK)
        text += 'used-net-digest="%s"\n' % used("log-digest", CHKSUM_MASK)
        limit = ses.get_link(ses.mpath("defaults-" + ses.host, "sync-limit"), 2)
        if lookup.truthy(limit):
            text += '   HINT: the global-sync-limit-value is set to "%s"\n' % limit
    return text


def _is_blk(path):
    try:
        return stat.S_ISBLK(os.stat(path).st_mode)
    except OSError:
        return False


def _size(path, default=0):
    try:
        if os.path.islink(path):
            return default
        return os.stat(path).st_size
    except OSError:
        return default


def seconds2human(seconds):
    if seconds is None or seconds == "" or numeric(seconds) < 0:
        return "--:--:--"
    seconds = int(numeric(seconds))
    return "%02d:%02d:%02d" % (seconds // 3600, (seconds % 3600) // 60, seconds % 60)


def _number2human(number, maximum):
    """marsadm ``number2human``: binary units chosen by the largest number of the group."""
    k = 1024.0
    for unit, power, flip in (("TiB", 4, 9.99), ("GiB", 3, 9.99), ("MiB", 2, 1), ("KiB", 1, 1)):
        if maximum >= k ** power * flip:
            return "%.3f" % (number / k ** power), unit
    return "%d" % int(number + 0.1), "B"


def human_numbers(numbers, delim_numbers="/", delim_unit=" "):
    """``%human-numbers{}{delim}{delim}{n1}{n2}…``: e.g. ``127.301/256.000 MiB``."""
    maximum = max(numbers) if numbers else 0
    parts = [_number2human(n, maximum) for n in numbers]
    unit = parts[-1][1] if parts else ""
    return delim_numbers.join(p[0] for p in parts) + delim_unit + unit


def human_bytes(number, maximum=None):
    return "%s %s" % _number2human(number, number if maximum is None else maximum)


def _progress_bar(length, low, mid, high):
    """marsadm's ``progress_bar``: ``=`` done, ``>`` position, ``:`` fetched ahead, ``.`` to do."""
    low = max(low, 0)
    mid = max(mid, low)
    high = max(high, mid, 1)
    pos1 = length * low / high
    progress = "=" * int(max(pos1 - 1, 0))
    if pos1 < length:
        progress += ">"
        pos1 += 1
    pos2 = length * mid / high
    if pos1 < pos2:
        progress += ":" * int(pos2 - pos1)
    if pos2 < length:
        progress += "." * int(length - pos2)
    return "[" + progress + "]"


def _int_part(text):
    return int(float(text)) if re.match(r"^[0-9.]+$", text) else 0


def syncinfo(view):
    pos = numeric(view.prim("sync-pos"))
    size = numeric(view.prim("sync-size"))
    rate = numeric(view.prim("sync-rate"))
    amount = human_numbers([pos, size], " ", " ").split(" ")
    rate_parts = human_numbers([rate], " ", " ").split(" ")
    remain = seconds2human(view.prim("sync-remain"))
    return ("     syncing: %s  %.2f%%  (%d/%d)%s  rate: %.2f %s/sec  remaining: %s hrs\n"
            "       > sync: %s rate: %s/sec  remaining: %s hrs\n") % (
        _progress_bar(20, pos, 0, size), numeric(view.prim("sync-percent")), _int_part(amount[0]),
        _int_part(amount[1]), amount[2], float(rate_parts[0]), rate_parts[1], remain,
        human_numbers([pos, size]), human_numbers([rate]), remain)


def _age_text(view, what, with_lag):
    window = view.ses.opts.window
    remain = numeric(view.prim(what + "-remain"))
    age = numeric(view.prim(what + "-age"))
    text = " age: %s" % seconds2human(age) if remain and age >= window else ""
    if with_lag:
        lag = numeric(view.prim(what + "-lag"))
        if remain and lag >= window:
            text += " lag: %s" % seconds2human(lag)
    return text


def replinfo_view(view):
    replay_pos = numeric(view.prim("replay-pos"))
    fetch_pos = numeric(view.prim("fetch-pos"))
    fetch_size = numeric(view.prim("fetch-size"))
    logs = perl_num(view.prim("replay-lognr"))
    fetch_nr = numeric(view.prim("fetch-lognr"))
    work_nr = numeric(view.prim("work-lognr"))
    if fetch_nr > numeric(logs):
        logs += "::%d" % fetch_nr
    if work_nr > fetch_nr:
        logs += "..%d" % work_nr
    amount = human_numbers([replay_pos, fetch_size], " ", " ").split(" ")
    text = "     replaying: %s  %.2f%%  (%d/%d)%s  logs: [%s]\n" % (
        _progress_bar(20, replay_pos, fetch_pos, fetch_size), numeric(view.prim("work-percent")),
        _int_part(amount[0]), _int_part(amount[1]), amount[2], logs)
    for what, lag in (("fetch", True), ("replay", False)):
        text += "       > %s: %s%s rate: %s/s remaining: %s\n" % (
            what, human_numbers([numeric(view.prim(what + "-rest"))]), _age_text(view, what, lag),
            human_numbers([numeric(view.prim(what + "-rate"))]), seconds2human(view.prim(what + "-remain")))
    return text


def replinfo(ses, res):
    return replinfo_view(View(ses, "replinfo", res))


def view_cmd(ses, cmd, res, *args):
    """One ``view[-NAME] RES`` evaluation, printed with marsadm's newline rule."""
    name = re.sub(r"^view-?", "", cmd) or "default"
    view = View(ses, cmd, res, args[0] if args else "")
    if ses.opts.macro is not None:
        result = ses.opts.macro  # a literal --macro is printed as given (no template language)
    elif name in PRIMITIVES:
        result = view.prim(name, view.arg1)
    elif name in COMPLEX:
        result = view.complex(name)
    else:
        result = ses.die("cannot find macro '%s'\n" % name)
    text = perl_num(result) if result is not None else ""
    if text != "":
        text = text.rstrip("\n") + "\n"
    ses.out(text)
    return 0

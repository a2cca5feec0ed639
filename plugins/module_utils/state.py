# -*- coding: utf-8 -*-
# Copyright: (c) 2026, georep.mars contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Cluster and resource state computed from a :class:`MarsTree`.

Every answer follows the semantics of the ``marsadm view-*`` primitive of the
same name (marsadm 2.9, ``userspace/marsadm`` of mars0.1astable177); the
docstrings name the primitive.  Empty or missing links mean "unknown/false",
as with marsadm.  Pure Python, no Ansible imports: the monitoring and
housekeeping roles ship this file and tree.py beside their scripts on the hosts
(stdlib imports only), so that their metrics give the answers of georep.mars.info.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

REPLAY_RE = re.compile(r'^log-(\d+)-([^,]+),(\d+),(\d+)')
POSITION_RE = re.compile(r'((?:log|version)-(\d+)-([^,:]+)(?:,(\d+))?)')
LOG_NAME_RE = re.compile(r'^log-(\d+)-(.+)$')
VERSION_NAME_RE = re.compile(r'^version-(\d+)-(.+)$')
VERSION_POS_RE = re.compile(r',(\d+)')
NONE_HOST = '(none)'
# Kernel messages (resource-R/actual-H/msg-*) saying the logfile sequence has a hole.
GAP_MESSAGES = ('msg-wrn-log-consecutive', 'msg-err-log-not-contiguous', 'msg-err-versionlink-skip')
TODO_SWITCHES = ('attach', 'connect', 'sync', 'allow-replay')


def parse_lamport(value):
    """``sec.nsec`` Lamport stamp as float; None when empty or garbage."""
    if not value:
        return None
    try:
        return float(value.strip())
    except ValueError:
        return None


def parse_replay_link(value):
    """``log-<nr>-<origin>,<pos>,<len>`` -> (nr, origin, pos, len), or None."""
    match = REPLAY_RE.match(value or '')
    if not match:
        return None
    return int(match.group(1)), match.group(2), int(match.group(3)), int(match.group(4))


def compare_replay_links(first, second):
    """-1/0/+1 ordering of two replay positions (logfile number, then offset)."""
    def key(value):
        match = re.search(r'log-(\d+)[^,]*,(\d+)', value or '')
        if not match:
            return (0, 0)
        return (int(match.group(1)), int(match.group(2)))
    a, b = key(first), key(second)
    return (a > b) - (a < b)


def to_int(value, default=0):
    """marsadm's make_numeric(): empty/garbage counts as ``default``."""
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return default


def _truthy(value):
    """Perl truth of a link value: '', '0' and missing are false."""
    return bool(value) and value != '0'


def host_alive(tree, host, window, now):
    """view-is-alive HOST: ``/mars/actual-HOST/time`` is younger than the window (marsadm's is_alive)."""
    stamp = parse_lamport(tree.get('actual-%s/time' % host))
    return stamp is not None and stamp + window >= now


class ResourceState(object):
    """One resource as seen in the local tree: ``resource-<name>/``."""

    def __init__(self, tree, name, now, window):
        self.tree = tree
        self.name = name
        self.dir = 'resource-' + name
        self.now = now
        self.window = window
        self._links = tree.links(self.dir)
        self._files = tree.files(self.dir)

    # ------------------------------------------------------------ raw access
    def link(self, key):
        return self._links.get(key)

    def actual(self, host, key):
        """Indicator ``actual-HOST/key`` (the kernel's "LED")."""
        return self.tree.get('%s/actual-%s/%s' % (self.dir, host, key))

    def todo(self, host, key):
        """Switch ``todo-HOST/key`` as written by marsadm."""
        return self.tree.get('%s/todo-%s/%s' % (self.dir, host, key))

    @property
    def exists(self):
        """The resource is known here: its directory carries a ``size`` link."""
        return self.link('size') is not None

    @property
    def size(self):
        """view-resource-size / view-sync-size (bytes), None when unknown."""
        value = self.link('size')
        return to_int(value) if value is not None else None

    def _hosts_with(self, prefix):
        return set(key[len(prefix):] for key in self._links if key.startswith(prefix))

    @property
    def members(self):
        """Storage members: hosts with a ``data-HOST`` or ``replay-HOST`` link (view-resource-peers)."""
        return sorted(self._hosts_with('data-') | self._hosts_with('replay-'))

    @property
    def data_members(self):
        return sorted(self._hosts_with('data-'))

    def is_member(self, host):
        """view-is-member."""
        return host in self.members

    @property
    def designated_primary(self):
        """view-get-primary: the ``primary`` link unless ``(none)``."""
        value = self.link('primary')
        if not value or value == NONE_HOST:
            return None
        return value

    def indicator(self, host, key):
        """An ``actual-HOST/key`` indicator as marsadm's view-is-* reads it (empty or 0: false)."""
        return _truthy(self.actual(host, key))

    def is_primary(self, host):
        """view-is-primary: raw ``actual-HOST/is-primary`` is 1."""
        return _truthy(self.actual(host, 'is-primary'))

    @property
    def actual_primaries(self):
        """Every member whose kernel reports ``is-primary`` = 1 (two of them = split brain)."""
        return [host for host in self.members if self.is_primary(host)]

    def device_present(self, host):
        """view-device-present: ``actual-HOST/if-on`` is 1."""
        return _truthy(self.actual(host, 'if-on'))

    def device_open_count(self, host):
        """view-device-opened: openers of /dev/mars/<dev> on HOST."""
        return to_int(self.actual(host, 'open-count'))

    def is_attached(self, host):
        return _truthy(self.actual(host, 'is-attached'))

    def disk(self, host):
        """view-get-disk: the backing device of HOST."""
        return self.link('data-' + host)

    def device_name(self, host):
        value = self.link('device-' + host) or self.name
        return '/dev/mars/' + value

    def switches(self, host):
        """Every ``todo-HOST/*`` switch with its value (``emergency-limit`` included)."""
        return self.tree.links('%s/todo-%s' % (self.dir, host))

    def switches_on(self, host):
        """Switches that block leave-resource: any non-zero todo value."""
        return sorted(key for key, value in self.switches(host).items() if _truthy(value))

    def alive(self, host):
        return host_alive(self.tree, host, self.window, self.now)

    # --------------------------------------------------------- progress/rest
    def sync_rest(self, host):
        """view-sync-rest: size - syncstatus-HOST (bytes still to sync)."""
        size = to_int(self.link('size'))
        pos = to_int(self.link('syncstatus-' + host))
        return size - pos if pos < size else 0

    def _forward_amount(self, host, only_files):
        """marsadm get_amount(direction=+1): bytes from the replay position onwards.

        With ``only_files`` only locally present logfiles count (what can be
        replayed); otherwise the version links say how much the origin wrote
        (what must still be fetched).
        """
        replay = parse_replay_link(self.link('replay-' + host))
        if replay is None:
            return 0
        number, _origin, pos, length = replay
        total = length
        level = 0
        while True:
            value, found = 0, False
            own = self._files.get('log-%09d-%s' % (number, host))
            if own is not None:
                value, found = own, True
            else:
                prefix = 'log-%09d-' % number
                for name, size in self._files.items():
                    if name.startswith(prefix) and size > value:
                        value, found = size, True
            if not only_files:
                prefix = 'version-%09d-' % number
                for name, link in self._links.items():
                    if not name.startswith(prefix):
                        continue
                    match = VERSION_POS_RE.search(link)
                    if match:
                        value = max(value, int(match.group(1)))
                        found = True
            if not found:
                return total
            if level > 0:
                total += value
            else:
                # the logfile may be bigger than replay position + length
                total = max(total, value - pos, 0)
            number += 1
            level += 1

    def replay_rest(self, host):
        """view-replay-rest: fetched but not yet replayed bytes."""
        return max(self._forward_amount(host, True), 0)

    def fetch_rest(self, host):
        """view-fetch-rest: bytes the origin logged that are not yet here."""
        return max(self._forward_amount(host, False) - self._forward_amount(host, True), 0)

    def consistent(self, host, almost=False):
        """view-is-consistent (``almost``: view-is-almost-consistent)."""
        if self.sync_rest(host) > 0:
            return False
        replay = self.link('replay-' + host)
        if not replay:
            return False
        if not almost and self.is_primary(host):
            parsed = parse_replay_link(replay)
            if parsed and parsed[3] > 0:
                return False
        syncpos = self.link('syncpos-' + host)
        if syncpos and compare_replay_links(syncpos, replay) > 0:
            return False
        return True

    def orphan(self, host):
        """view-is-orphan: the replay link points behind the locally present logfile."""
        if self.is_primary(host):
            return False
        match = re.match(r'^(log-[^,]+),(\d*)', self.link('replay-' + host) or '')
        if not match:
            return True
        size = self._files.get(match.group(1))
        return size is None or size < to_int(match.group(2))

    def emergency(self, host):
        """view-is-emergency: ``actual-HOST/has-emergency``."""
        return _truthy(self.actual(host, 'has-emergency'))

    def messages(self, host, kind='err'):
        """Active kernel messages ``msg-<kind>-*`` (value not ``OK``): key -> text."""
        result = {}
        prefix = 'msg-%s-' % kind
        for key, value in self.tree.links('%s/actual-%s' % (self.dir, host)).items():
            if key.startswith(prefix) and value != 'OK':
                result[key[4:]] = value
        return result

    # ----------------------------------------------------------- split brain
    def _version_link(self, number, host):
        return self.link('version-%09d-%s' % (number, host))

    def _prev_pos(self, number, host):
        """Predecessor position from the version chain of HOST (marsadm _get_prev_pos)."""
        vers = self._version_link(number, host)
        if not vers:
            vers = self._version_link(number - 1, host)
            if vers:
                vers = vers.split(':', 1)[0]
        else:
            vers = vers.rsplit(':', 1)[-1]
        return vers or None

    @staticmethod
    def _parse_pos(pos):
        match = POSITION_RE.search(pos or '')
        if not match:
            return None
        length = int(match.group(4)) if match.group(4) is not None else -1
        return match.group(1), int(match.group(2)), match.group(3), length

    def _common_ancestor(self, pos1, dep1, host1, pos2, dep2, host2, budget=10000):
        """marsadm _get_common_ancestor: (point, split) for two replay positions.

        ``split`` is 0 (no split brain), 1 (split brain) or -1 (history not
        traceable, which marsadm also counts as split brain).
        """
        while budget > 0:
            budget -= 1
            parsed1, parsed2 = self._parse_pos(pos1), self._parse_pos(pos2)
            if parsed1 is None or parsed2 is None:
                return '', -1
            p1, nr1, from1, len1 = parsed1
            p2, nr2, from2, len2 = parsed2
            if p1 == p2:
                split = 1 if (dep1 and dep2) else 0
                if not split:
                    vers1 = self._version_link(nr1, from1)
                    vers2 = self._version_link(nr2, from2)
                    if vers1 and vers2 and vers1 != vers2:
                        split = 1
                return p1, split
            if nr1 > nr2:
                pos1, dep1, host1, pos2, dep2, host2 = pos2, dep2, host2, pos1, dep1, host1
                continue
            if nr1 < nr2:
                prev = self._prev_pos(nr2, host2)
                if not prev:
                    return '', -1
                pos2, dep2 = prev, dep2 + 1
                continue
            if from1 != from2:
                return '', 1
            if len1 < len2:
                return p1, 1 if dep1 else 0
            if len2 < len1:
                return p2, 1 if dep2 else 0
            return '', -1
        return '', -1

    def split_brain_pairs(self):
        """Pairs of members whose histories diverged (version-chain mismatch)."""
        hosts = sorted(self._hosts_with('replay-'))
        pairs = []
        for i, host1 in enumerate(hosts):
            for host2 in hosts[i + 1:]:
                point, split = self._common_ancestor(
                    self.link('replay-' + host1), 0, host1, self.link('replay-' + host2), 0, host2)
                if split:
                    pairs.append({'hosts': [host1, host2], 'after': point or None, 'traceable': split > 0})
        return pairs

    def duplicate_logfiles(self):
        """Logfile numbers that exist from more than one origin host."""
        origins = {}
        for name in self._files:
            match = LOG_NAME_RE.match(name)
            if match:
                origins.setdefault(int(match.group(1)), set()).add(match.group(2))
        return sorted(number for number, hosts in origins.items() if len(hosts) > 1)

    @property
    def split_brain(self):
        """view-is-split-brain."""
        return bool(self.split_brain_pairs() or self.duplicate_logfiles())

    # --------------------------------------------------- logfile sequence gaps
    def logfile_numbers(self):
        numbers = set()
        for name in list(self._files) + list(self._links):
            match = LOG_NAME_RE.match(name) or VERSION_NAME_RE.match(name)
            if match:
                numbers.add(int(match.group(1)))
        return numbers

    def logfile_gaps(self):
        """Numbers missing inside the logfile/version sequence (emergency mode leaves such holes)."""
        numbers = self.logfile_numbers()
        if not numbers:
            return []
        return [n for n in range(min(numbers), max(numbers) + 1) if n not in numbers]

    def needs_full_sync(self, host):
        """True when HOST's data may miss unlogged writes although it may look UpToDate.

        After emergency mode the primary wrote without logging and left a hole in
        the logfile sequence; a secondary that replays across the hole reports
        consistent, but only ``invalidate`` (full sync) repairs it.  A hole
        counts when it lies after the position where HOST's last full sync ended.
        """
        if not self.is_member(host) or self.is_primary(host) or self.designated_primary == host:
            return False
        active = self.messages(host, 'err')
        active.update(self.messages(host, 'wrn'))
        if any(key[len('msg-'):] in active for key in GAP_MESSAGES):
            return True
        syncpos = parse_replay_link(self.link('syncpos-' + host))
        synced_up_to = syncpos[0] if syncpos else 0
        return any(gap > synced_up_to for gap in self.logfile_gaps())

    # ---------------------------------------------------------------- export
    def host_facts(self, host):
        """The per-host facts returned by the info module and used by the others."""
        primary = self.is_primary(host)
        return {
            'member': self.is_member(host),
            'disk': self.disk(host),
            'device': self.device_name(host),
            'role': 'primary' if primary else ('secondary' if self.is_member(host) else 'none'),
            'is_primary': primary,
            'designated_primary': self.designated_primary == host,
            'device_present': self.device_present(host),
            'device_open_count': self.device_open_count(host),
            'attached': self.is_attached(host),
            'alive': self.alive(host),
            'consistent': self.consistent(host),
            'sync_rest': self.sync_rest(host),
            'fetch_rest': self.fetch_rest(host),
            'replay_rest': self.replay_rest(host),
            'orphan': self.orphan(host),
            'emergency': self.emergency(host),
            'needs_full_sync': self.needs_full_sync(host),
            'switches': self.switches(host),
            'replay_code': self.actual(host, 'replay-code'),
            'errors': self.messages(host, 'err'),
            'warnings': self.messages(host, 'wrn'),
        }

    def to_dict(self, local_host):
        hosts = dict((host, self.host_facts(host)) for host in self.members)
        local = hosts.get(local_host) or self.host_facts(local_host)
        sync_size = self.size or 0
        return {
            'name': self.name,
            'exists': self.exists,
            'size': self.size,
            'designated_primary': self.designated_primary,
            'actual_primaries': self.actual_primaries,
            'members': self.members,
            'member': local['member'],
            'role': local['role'],
            'is_primary': local['is_primary'],
            'device': local['device'],
            'device_present': local['device_present'],
            'disk': local['disk'],
            'consistent': local['consistent'],
            'sync_rest': local['sync_rest'],
            'sync_percent': round(100.0 * (sync_size - local['sync_rest']) / sync_size, 2) if sync_size else None,
            'fetch_rest': local['fetch_rest'],
            'replay_rest': local['replay_rest'],
            'split_brain': self.split_brain,
            'split_brain_pairs': self.split_brain_pairs(),
            'duplicate_logfiles': self.duplicate_logfiles(),
            'logfile_gaps': self.logfile_gaps(),
            'emergency': local['emergency'],
            'needs_full_sync': local['needs_full_sync'],
            'errors': local['errors'],
            'hosts': hosts,
        }


class ClusterState(object):
    """The whole tree of one host: cluster membership plus every resource."""

    def __init__(self, tree, host, now, window, module_loaded=False, kernel_version=None):
        self.tree = tree
        self.host = host
        self.now = now
        self.window = window
        self.module_loaded = module_loaded
        self.kernel_version = kernel_version
        self._resources = {}

    @property
    def uuid(self):
        """Cluster uuid; None while missing or still the join placeholder ``(any)``."""
        value = self.tree.get('uuid')
        if not value or value == '(any)':
            return None
        return value

    @property
    def hosts(self):
        """Configured cluster hosts from ``ips/ip-HOST``: host -> IP."""
        return dict((key[3:], value) for key, value in self.tree.links('ips').items() if key.startswith('ip-'))

    @property
    def joined(self):
        """This host belongs to a cluster: real uuid plus its own ``ips/ip-HOST``."""
        return self.uuid is not None and self.host in self.hosts

    def last_seen(self, host):
        """Lamport stamp of HOST's last sign of life here (``actual-HOST/time``); None when unknown."""
        return parse_lamport(self.tree.get('actual-%s/time' % host))

    def host_alive(self, host):
        return host_alive(self.tree, host, self.window, self.now)

    def global_emergency(self, host, default=0):
        """Global emergency level 0..4 of HOST (``actual-HOST/emergency``); ``default`` when unknown."""
        return to_int(self.tree.get('actual-%s/emergency' % host), default)

    def rest_space_gb(self, host):
        """Free space of HOST's /mars as its kernel reports it (GiB); None when unknown."""
        return to_int(self.tree.get('actual-%s/rest-space' % host), None)

    def total_space_gb(self, host):
        """Size of HOST's /mars as its kernel reports it (GiB); None when unknown."""
        return to_int(self.tree.get('actual-%s/total-space' % host), None)

    def resource(self, name):
        if name not in self._resources:
            self._resources[name] = ResourceState(self.tree, name, self.now, self.window)
        return self._resources[name]

    def resource_names(self):
        """Resources that exist (have a ``size`` link) in the local tree."""
        return [name for name in self.tree.resource_names() if self.resource(name).exists]

    def my_resources(self):
        """view-my-resources: resources this host is a member of."""
        return [name for name in self.resource_names() if self.resource(name).is_member(self.host)]

    def primary_resources(self, host=None):
        """Resources where HOST is designated or actual primary."""
        host = host or self.host
        result = []
        for name in self.resource_names():
            res = self.resource(name)
            if res.designated_primary == host or res.is_primary(host):
                result.append(name)
        return result

    def cluster_dict(self):
        hosts = {}
        for host, ip in sorted(self.hosts.items()):
            hosts[host] = {
                'ip': ip,
                'alive': self.host_alive(host),
                'emergency_level': self.global_emergency(host),
                'rest_space_gb': self.rest_space_gb(host),
                'total_space_gb': self.total_space_gb(host),
                'buildtag': self.tree.get('actual-%s/buildtag' % host),
                'marsadm_version': self.tree.get('actual-%s/marsadm-version' % host),
            }
        return {
            'uuid': self.uuid,
            'joined': self.joined,
            'host': self.host,
            'ip': self.hosts.get(self.host),
            'module_loaded': self.module_loaded,
            'kernel_version': self.kernel_version,
            'marsadm_version': self.tree.get('actual-%s/marsadm-version' % self.host),
            'buildtag': self.tree.get('actual-%s/buildtag' % self.host),
            'emergency_level': self.global_emergency(self.host),
            'hosts': hosts,
            'resources': self.resource_names(),
            'my_resources': self.my_resources(),
        }

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, georep.mars contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""One table of names, addresses and sizes, and every user of the rules gives the same verdict.

The verdicts are the real marsadm's (see plugins/module_utils/validate.py for its lines).  Each
row runs through validate.py itself, the filters (fleet_errors, size_bytes) and the test plugin
(ipv4_peer) as Jinja would call them, and the modules (resource, cluster): the same value is
accepted everywhere or refused everywhere with the same sentence.  The modules run through the
harness of tests/unit/plugins/modules (its run_case fixture comes in by conftest.py).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.georep.mars.plugins.filter import fleet_errors as fleet_errors_plugin
from ansible_collections.georep.mars.plugins.filter import size_bytes as size_bytes_plugin
from ansible_collections.georep.mars.plugins.module_utils.validate import (
    ValidationError, host_name_error, ipv4_address_error, ipv4_peer_error, parse_size, resource_name_error,
    resource_size_error)
from ansible_collections.georep.mars.plugins.modules import cluster, resource
from ansible_collections.georep.mars.plugins.test import ipv4_peer as ipv4_peer_plugin

FLEET_ERRORS = fleet_errors_plugin.FilterModule().filters()['fleet_errors']
SIZE_BYTES = size_bytes_plugin.FilterModule().filters()['size_bytes']
IPV4_PEER = ipv4_peer_plugin.TestModule().tests()['ipv4_peer']

# (value, accepted)
RESOURCE_NAMES = [
    ('r1', True),
    ('_r1', True),
    ('pg-orders', True),
    ('pg_orders', True),
    ('R1-', True),
    ('1', True),
    ('a' * 63, True),
    ('a' * 64, False),
    ('pg.orders', False),
    ('-r1', False),
    (u'r1\u00e9', False),            # r1 with an accented e
    (u'\uff52\uff11', False),         # full-width r1
    ('r 1', False),
    ('r/1', False),
    ('../etc', False),
    ('r1,r2', False),
    ('r1\n', False),
    ('', False),
    ('0', False),                     # Perl reads '0' as false: check_id() calls it empty
    ('all', False),                   # reserved names
    ('none', False),
    ('localhost', False),
]

HOST_NAMES = [
    ('vm1', True),
    ('db1-fra', True),
    ('_h1', True),
    ('h' * 63, True),
    ('h' * 64, False),
    ('db1.example.com', False),
    ('db1.', False),
    ('-db1', False),
    ('vm 1', False),
    (u'h\u00f6st', False),
    ('localhost', False),
    ('local', False),
]

# (value, accepted, IPv6)
ADDRESSES = [
    ('10.0.0.1', True, False),
    ('192.0.2.11', True, False),
    ('255.255.255.255', True, False),
    ('10.0.0.256', False, False),
    ('010.0.0.1', False, False),
    ('10.0.0', False, False),
    ('10.0.0.1.1', False, False),
    ('10.0.0.1:7777', False, False),
    (' 10.0.0.1', False, False),
    ('db1.example', False, False),
    ('::1', False, True),
    ('fe80::1', False, True),
    ('fd00::11', False, True),
    ('::ffff:10.0.0.1', False, True),
    ('[::1]', False, True),
]

# (value, bytes as marsadm's get_size() reads it or None, a resource can have this size)
SIZES = [
    ('64M', 64 * 1024 ** 2, True),
    ('64m', 64 * 1000 ** 2, True),
    ('1G', 1024 ** 3, True),
    ('1.5G', 1536 * 1024 ** 2, True),
    ('2T', 2 * 1024 ** 4, True),
    ('1P', 1024 ** 5, True),
    ('68K', 68 * 1024, True),
    (' 64M ', 64 * 1024 ** 2, True),
    (268435456, 268435456, True),
    ('268435456', 268435456, True),
    ('64K', 65536, False),            # create-resource wants more than 64 KiB
    ('4096', 4096, False),
    (4096, 4096, False),
    ('0', 0, False),
    (0, 0, False),
    ('64MB', None, False),
    ('64MiB', None, False),
    ('64 M', None, False),
    ('1g', None, False),              # 10**9 bytes are not whole 4 KiB blocks
    ('1001', None, False),
    ('1.0001k', None, False),
    ('-1', None, False),
    (-1, None, False),
    ('+64M', None, False),
    ('1e9', None, False),
    ('0x1000', None, False),
    ('garbage', None, False),
    ('', None, False),
    (True, None, False),
]

NETWORKS = [
    ('10.0.0.0/24', True),
    ('10.0.0.5/32', True),
    ('0.0.0.0/0', True),
    ('10.0.0.0/33', False),
    ('10.0.0.0/024', False),
    ('10.0.0.0/255.255.255.0', False),
    ('10.0.0.0/', False),
    ('fe80::/64', False),
]

NOT_MOUNTED = "/mars is not a mounted filesystem on vm1; create and mount it first (georep.mars storage role)."


def ids(rows):
    return [repr(row[0])[:24] for row in rows]


def module_verdict(run_case, module, args, reason):
    """Run MODULE on a host without /mars: a refused value fails with REASON, a good one gets past the checks."""
    case = {'tree': 'empty', 'mounted': False, 'input': args,
            'expect': {'failed': True, 'msg': (reason + '.') if reason else NOT_MOUNTED}}
    run_case(module, case)


def fleet(resource=None, hosts=None):
    """fleet_errors of one resource (default: a sound one) on HOSTS (default: vm1 at 10.0.0.1)."""
    hostvars = hosts or {'vm1': {'mars_replication_ip': '10.0.0.1'}}
    resources = [dict({'name': 'r1', 'disk': '/dev/vdb', 'replicas': list(hostvars)}, **(resource or {}))]
    return FLEET_ERRORS(resources, hostvars, list(hostvars))


@pytest.mark.parametrize('name, accepted', RESOURCE_NAMES, ids=ids(RESOURCE_NAMES))
def test_resource_names(name, accepted, run_case):
    reason = resource_name_error(name)
    assert (reason is None) == accepted, reason
    assert fleet({'name': name}) == ([] if accepted else ['mars_resources[0]: ' + reason])
    module_verdict(run_case, resource, {'name': name, 'disk': '/dev/vdb', 'primary': 'vm1'}, reason)


@pytest.mark.parametrize('name, accepted', HOST_NAMES, ids=ids(HOST_NAMES))
def test_host_names(name, accepted, run_case):
    reason = host_name_error(name, 'founder')
    assert (reason is None) == accepted, reason
    errors = fleet(hosts={name: {'mars_replication_ip': '10.0.0.1'}})
    assert errors == ([] if accepted else ["host '%s': %s" % (name, host_name_error(name, 'inventory name'))])
    module_verdict(run_case, cluster, {'founder': name}, reason)


@pytest.mark.parametrize('address, accepted, ipv6', ADDRESSES, ids=ids(ADDRESSES))
def test_addresses(address, accepted, ipv6, run_case):
    reason = ipv4_address_error(address, 'mars_replication_ip')
    assert (reason is None) == accepted, reason
    if ipv6:
        assert 'is IPv6, but MARS replicates over IPv4 only' in reason
    errors = fleet(hosts={'vm1': {'mars_replication_ip': address}})
    assert errors == ([] if accepted else ["host 'vm1': " + reason])
    assert IPV4_PEER(address) is accepted
    module_verdict(run_case, cluster, {'founder': 'vm1', 'ip': address}, ipv4_address_error(address, 'ip'))


@pytest.mark.parametrize('peer, accepted', NETWORKS, ids=ids(NETWORKS))
def test_firewall_peers(peer, accepted):
    assert (ipv4_peer_error(peer) is None) == accepted
    assert IPV4_PEER(peer) is accepted


@pytest.mark.parametrize('value, size, resource_size', SIZES, ids=ids(SIZES))
def test_sizes(value, size, resource_size, run_case):
    if size is None:
        with pytest.raises(ValidationError):
            parse_size(value)
    else:
        assert parse_size(value) == size
    assert SIZE_BYTES(value) == size
    reason = resource_size_error(value)
    assert (reason is None) == resource_size, reason
    assert fleet({'size': value}) == ([] if resource_size else ["resource 'r1': " + reason])
    module_verdict(run_case, resource, {'name': 'r1', 'disk': '/dev/vdb', 'primary': 'vm1', 'size': value}, reason)


@pytest.mark.parametrize('check', [
    lambda: resource_name_error('pg.orders'),
    lambda: host_name_error('db1.example.com'),
    lambda: ipv4_address_error('fe80::1'),
    lambda: ipv4_address_error('10.0.0.256'),
    lambda: resource_size_error('64MB'),
    lambda: resource_size_error('1001'),
    lambda: resource_size_error('64K'),
], ids=['resource', 'host', 'ipv6', 'ipv4', 'suffix', 'blocks', 'small'])
def test_each_reason_is_one_sentence_that_says_what_to_do(check):
    reason = check()
    sentence = reason.replace('e.g. ', '')
    assert sentence and not sentence.endswith('.') and '. ' not in sentence and ';' not in sentence, reason
    assert any(word in reason for word in ('give', 'use', 'choose', 'set', 'shorten')), reason

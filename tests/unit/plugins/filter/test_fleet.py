"""The inventory checks: each bad fleet description gives one message naming host/resource and field."""

import pytest

from ansible_collections.georep.mars.plugins.filter.disk_errors import disk_errors
from ansible_collections.georep.mars.plugins.filter.fleet_errors import fleet_errors
from ansible_collections.georep.mars.plugins.filter.host_resources import host_resources

HOSTVARS = {
    "a1": {"mars_replication_ip": "10.0.0.1", "mars_site": "a"},
    "a2": {"mars_replication_ip": "10.0.0.2", "mars_site": "a"},
    "b1": {"mars_replication_ip": "10.0.1.1", "mars_site": "b"},
}
CLUSTER = ["a1", "a2", "b1"]
GOOD = {"name": "r1", "size": "64M", "disk": "/dev/vdb", "replicas": ["a1", "b1"], "primary": "a1",
        "preferred_primaries": ["a1", "b1"]}


def with_changes(**changes):
    resource = dict(GOOD)
    resource.update(changes)
    return resource


def test_sound_fleet_has_no_errors():
    assert not fleet_errors([GOOD, with_changes(name="r2", replicas=["a2", "b1"], primary="b1", preferred_primaries=[])],
                            HOSTVARS, CLUSTER)


@pytest.mark.parametrize("resources, hostvars, expected", [
    ([GOOD, GOOD], HOSTVARS, "resource 'r1': defined twice"),
    ([with_changes(replicas=["a1", "zz"])], HOSTVARS, "resource 'r1': replica host 'zz' is not in the cluster"),
    ([GOOD], dict(HOSTVARS, b1={"mars_replication_ip": "10.0.1.300", "mars_site": "b"}),
     "host 'b1': mars_replication_ip '10.0.1.300' is not an IPv4 address"),
    ([GOOD], dict(HOSTVARS, b1={"mars_replication_ip": "db.example", "mars_site": "b"}),
     "host 'b1': mars_replication_ip 'db.example' is not an IPv4 address"),
    ([GOOD], dict(HOSTVARS, b1={"mars_replication_ip": "fd00::11", "mars_site": "b"}),
     "host 'b1': mars_replication_ip 'fd00::11' is IPv6, but MARS replicates over IPv4 only"),
    ([GOOD], dict(HOSTVARS, **{"b1.example.org": {"mars_replication_ip": "10.0.1.9"}}),
     "host 'b1.example.org': inventory name 'b1.example.org' is not a MARS host name"),
    ([GOOD], dict(HOSTVARS, b1={"mars_site": "b"}), "host 'b1': mars_replication_ip is not set"),
    ([GOOD], dict(HOSTVARS, b1={"mars_replication_ip": "10.0.0.1", "mars_site": "b"}),
     "host 'b1': mars_replication_ip '10.0.0.1' is also the address of 'a1'"),
    ([with_changes(replicas=["a1", "a2", "b1"], preferred_primaries=["a1", "a2"])], HOSTVARS,
     "resource 'r1': preferred_primaries names two hosts in site 'a' ('a1' and 'a2')"),
    ([with_changes(size="64Q")], HOSTVARS, "resource 'r1': size '64Q' is not a size"),
    ([with_changes(size="1001")], HOSTVARS, "resource 'r1': size '1001' (1001 bytes) is not a multiple of 4096 bytes"),
    ([with_changes(size="64MB")], HOSTVARS, "resource 'r1': size '64MB' is not a size marsadm accepts"),
    ([with_changes(size="64K")], HOSTVARS, "resource 'r1': size '64K' (65536 bytes) is too small"),
    ([with_changes(primary="a2")], HOSTVARS, "resource 'r1': primary 'a2' is not one of its replicas"),
    ([with_changes(name="bad name")], HOSTVARS, "mars_resources[0]: resource name 'bad name' is invalid"),
    ([with_changes(name="pg.orders")], HOSTVARS, "mars_resources[0]: resource name 'pg.orders' is invalid"),
    ([with_changes(name="all")], HOSTVARS, "mars_resources[0]: resource name 'all' is invalid: marsadm reserves it"),
    ([with_changes(disk=None)], HOSTVARS, "resource 'r1': no disk for replica 'a1'"),
    ([with_changes(disk="vdb")], HOSTVARS, "resource 'r1': disk 'vdb' of replica 'a1' is not a /dev path"),
    ([with_changes(disks={"a2": "/dev/vdc"})], HOSTVARS, "resource 'r1': disks names 'a2', which is not one of its replicas"),
])
def test_each_bad_description_is_named(resources, hostvars, expected):
    errors = fleet_errors(resources, hostvars, [host for host in hostvars if host in CLUSTER or '.' in host])
    assert any(error.startswith(expected) for error in errors), errors


def test_host_resources_resolves_disk_and_primary():
    resources = [with_changes(disks={"b1": "/dev/vdc"}), with_changes(name="r2", replicas=["a2"], primary=None, preferred_primaries=[])]
    mine = host_resources(resources, "b1")
    assert [(r["name"], r["disk"], r["primary"], r["is_primary"]) for r in mine] == [("r1", "/dev/vdc", "a1", False)]
    assert host_resources(resources, "a2")[0]["primary"] == "a2"
    assert "disks" not in mine[0]


def test_example_inventory_is_sound():
    import os
    import yaml
    base = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "inventories", "example")
    hosts = yaml.safe_load(open(os.path.join(base, "hosts.yml")))
    hostvars, cluster = {}, []
    for group, body in hosts["all"]["children"]["mars"]["children"].items():
        site = yaml.safe_load(open(os.path.join(base, "group_vars", group, "site.yml")))
        for host, hv in body["hosts"].items():
            hostvars[host] = dict(hv, **site)
            cluster.append(host)
    resources = yaml.safe_load(open(os.path.join(base, "group_vars", "mars", "resources.yml")))["mars_resources"]
    assert fleet_errors(resources, hostvars, cluster) == []


def test_failover_chooses_one_survivor_per_lost_resource():
    from ansible_collections.georep.mars.plugins.filter.failover_targets import failover_targets
    resources = [
        {"name": "r1", "replicas": ["a1", "b1", "b2"], "preferred_primaries": ["a1", "b2"]},
        {"name": "r2", "replicas": ["a1", "b1", "b2"]},
        {"name": "r3", "replicas": ["b1", "a1"]},
        {"name": "r4", "replicas": ["a1", "a2"]},
    ]
    state = {"r1": {"designated_primary": "a1"}, "r2": {"designated_primary": "a1"},
             "r3": {"designated_primary": "b1"}, "r4": {"designated_primary": "a1"}}
    lost = ["a1", "a2"]
    assert failover_targets(resources, state, lost, "b2") == ["r1"]      # its preferred survivor
    assert failover_targets(resources, state, lost, "b1") == ["r2"]      # first surviving replica; r3 was not lost
    assert failover_targets(resources, state, lost, "a1") == []
    # every lost resource with a survivor is taken by exactly one host; r4 has none
    taken = sum((failover_targets(resources, state, lost, h) for h in ("b1", "b2")), [])
    assert sorted(taken) == ["r1", "r2"]


def test_failover_of_one_lost_host_keeps_the_preferred_order():
    """failover.yml -e failover_lost_host=a1, a2 of the same site alive: the preferred primary of the other
    site takes r1; r2 has no surviving preferred primary, so its first surviving replica, a2, takes it."""
    from ansible_collections.georep.mars.plugins.filter.failover_targets import failover_targets
    resources = [{"name": "r1", "replicas": ["a1", "a2", "b1"], "preferred_primaries": ["a1", "b1"]},
                 {"name": "r2", "replicas": ["a1", "a2", "b1"], "preferred_primaries": ["a1"]}]
    state = {"r1": {"designated_primary": "a1"}, "r2": {"designated_primary": "a1"}}
    assert failover_targets(resources, state, ["a1"], "b1") == ["r1"]
    assert failover_targets(resources, state, ["a1"], "a2") == ["r2"]


@pytest.mark.parametrize("measured, expected", [
    ({"/dev/vdb": 67108864}, []),
    ({"/dev/vdb": None}, ["host 'a1', resource 'r1': disk '/dev/vdb' does not exist on a1; create the LV/partition "
                          "first or fix the path"]),
    ({"/dev/vdb": -1}, ["host 'a1', resource 'r1': disk '/dev/vdb' on a1 is not a block device; MARS needs a block "
                        "device such as an LV or a partition"]),
    ({"/dev/vdb": 33554432}, ["host 'a1', resource 'r1': disk '/dev/vdb' on a1 has 33554432 bytes, less than the "
                              "67108864 bytes of resource 'r1'; use a larger disk or a smaller size"]),
])
def test_disk_errors_measure_every_disk_like_the_module(measured, expected):
    assert disk_errors(host_resources([GOOD], "a1"), measured, "a1") == expected


def test_disk_errors_without_size_take_any_block_device():
    assert disk_errors([dict(GOOD, size=None)], {"/dev/vdb": 4096}, "a1") == []

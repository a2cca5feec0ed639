"""The operator: what to run next, from what georep.mars.info shows, following docs/operations.md.

Pure functions, no I/O.  Inputs:

* ``fleet``: the inventory: ``{"sites": {host: site}, "resources": {name: {"replicas", "primary",
  "preferred_primaries"}}}``;
* ``infos``: host -> the result of ``georep.mars.info`` on that host, or None when the controller
  cannot reach it (ssh fails: the host is down, frozen or cut off from the controller);
* ``faults``: the active faults (``nemesis.Fault.to_dict()``), so that the operator waits for
  network faults to go away instead of running playbooks into them;
* ``context``: what the operator remembers (``new_context``), updated by ``observe`` and
  ``after_run``.

The rules, in order (the first that applies wins):

1. a run was interrupted: the same playbook again, with the same extra vars;
2. a whole site unreachable for ``grace_s`` (the operator's guard; failover.yml then waits for
   the MARS window itself) and a resource's primary there: ``failover.yml`` for that site; one
   host unreachable that long while the rest of its site is not: ``failover.yml`` for that host;
3. a site or host we failed away from is back: ``split_brain.yml`` with it as the loser, once its
   hosts show the survivors' primary (or the split brain);
4. anything else unreachable, or a fault active: wait;
5. a split brain left: ``split_brain.yml`` for the losing host;
6. emergency mode anywhere: wait (space must be freed first); then ``needs_full_sync``:
   ``resync.yml``;
7. MARS not loaded, a replica missing or detached, no designated primary: ``site.yml``;
8. a requested planned operation (nemesis ``planned``): run it;
9. healthy but a resource away from its inventory primary: ``handover.yml`` of that resource.

A playbook that must not run under a writer (the device must be closed for a handover or a
split-brain repair) lists the writers to stop first in ``stop_writers``.
"""

from dataclasses import dataclass, field

NETWORK_KINDS = ("network",)


@dataclass
class Decision:
    action: str  # run, wait, none
    reason: str
    playbook: str = None
    extra_vars: dict = field(default_factory=dict)
    stop_writers: list = field(default_factory=list)  # (resource, host)

    def to_dict(self):
        return {"action": self.action, "reason": self.reason, "playbook": self.playbook, "extra_vars": dict(self.extra_vars),
                "stop_writers": [list(w) for w in self.stop_writers]}


# lost_since, failed_over: site -> since when; host_lost_since, failed_over_hosts: the same for one
# host whose site is not wholly lost
MAPS = ("lost_since", "failed_over", "host_lost_since", "failed_over_hosts")


def new_context(grace_s=30.0, lag_limit=4 << 20):
    return dict({"grace_s": grace_s, "lag_limit": lag_limit, "last_run": None, "requests": []}, **dict((key, {}) for key in MAPS))


def _copy(context):
    out = dict(context)
    for key in MAPS:
        out[key] = dict(context.get(key, {}))
    out["requests"] = list(context["requests"])
    return out


def sites_of(fleet):
    sites = {}
    for host, site in fleet["sites"].items():
        sites.setdefault(site, []).append(host)
    return dict((s, sorted(h)) for s, h in sites.items())


def observe(context, fleet, infos, now):
    """Track since when each site is wholly unreachable, and each host alone."""
    out = _copy(context)
    lost, lost_hosts = {}, {}
    for site, hosts in sites_of(fleet).items():
        if all(infos.get(h) is None for h in hosts):
            lost[site] = out["lost_since"].get(site, now)
            continue
        for host in hosts:
            if infos.get(host) is None:
                lost_hosts[host] = out["host_lost_since"].get(host, now)
    out["lost_since"], out["host_lost_since"] = lost, lost_hosts
    return out


def failed_away(fleet, context, host):
    """Whether a failover took the primaries away from ``host`` and its split brain is not repaired yet."""
    return fleet["sites"].get(host) in context["failed_over"] or host in context["failed_over_hosts"]


def after_run(context, decision, rc, interrupted, now):
    """Remember an interrupted run (rule 1), a failover (rule 3) and a done repair or request."""
    out = _copy(context)
    out["last_run"] = {"playbook": decision.playbook, "extra_vars": dict(decision.extra_vars), "rc": rc, "interrupted": interrupted}
    if interrupted or rc != 0:
        return out
    ev = decision.extra_vars
    if decision.playbook == "failover.yml" and "failover_lost_site" in ev:
        out["failed_over"][ev["failover_lost_site"]] = now
    elif decision.playbook == "failover.yml":
        out["failed_over_hosts"][ev["failover_lost_host"]] = now
    elif decision.playbook == "split_brain.yml" and "split_brain_loser_site" in ev:
        out["failed_over"].pop(ev["split_brain_loser_site"], None)
    elif decision.playbook == "split_brain.yml":
        out["failed_over_hosts"].pop(ev["split_brain_loser"], None)
    out["requests"] = [r for r in out["requests"] if not (r["playbook"] == decision.playbook and r["extra_vars"] == ev)]
    return out


def primary_view(fleet, infos, context):
    """name -> designated primary, as the hosts outside not-yet-repaired failed-over sites report it."""
    trusted = [h for h, info in sorted(infos.items()) if info is not None and not failed_away(fleet, context, h)]
    view = {}
    for name in fleet["resources"]:
        votes = [infos[h]["resources"][name].get("designated_primary") for h in trusted if name in infos[h].get("resources", {})]
        votes = [v for v in votes if v]
        view[name] = max(set(votes), key=votes.count) if votes else None
    return view


def member_facts(infos, name):
    """(host, that host's own facts for resource ``name``) for every reachable member."""
    for host, info in sorted(infos.items()):
        res = (info or {}).get("resources", {}).get(name)
        if res and res.get("member"):
            yield host, res


def writer_hosts(fleet, infos, context):
    """name -> the host where the application should write now: the designated primary with its device up."""
    out = {}
    for name, primary in primary_view(fleet, infos, context).items():
        res = ((infos.get(primary) or {}).get("resources") or {}).get(name) if primary else None
        if res and res.get("is_primary") and res.get("device_present") and not failed_away(fleet, context, primary):
            out[name] = primary
    return out


def _run(reason, playbook, extra_vars, stop_writers=()):
    return Decision("run", reason, playbook, extra_vars, list(stop_writers))


def _lost_groups(fleet, context):
    """(what, hosts, since, the failover.yml extra var) of every lost site, then of every lost host."""
    sites = sites_of(fleet)
    for site, since in sorted(context["lost_since"].items()):
        if site not in context["failed_over"]:
            yield "site " + site, sites[site], since, {"failover_lost_site": site}
    for host, since in sorted(context["host_lost_since"].items()):
        if host not in context["failed_over_hosts"]:
            yield "host " + host, [host], since, {"failover_lost_host": host}


def lost_by(fleet, context, extra_vars):
    """The hosts a failover.yml run names (by site or by host) and since when they were lost (None:
    not seen lost)."""
    site = extra_vars.get("failover_lost_site")
    if site:
        return sites_of(fleet)[site], context["lost_since"].get(site)
    host = extra_vars["failover_lost_host"]
    return [host], context["host_lost_since"].get(host)


def _failover(fleet, infos, context, now):
    view = primary_view(fleet, infos, context)
    for what, hosts, since, lost in _lost_groups(fleet, context):
        hit = sorted(n for n, p in view.items() if p in hosts)
        survivors = [h for h in fleet["sites"] if h not in hosts and infos.get(h) is not None]
        if not hit or not survivors:
            continue
        if now - since < context["grace_s"]:
            return Decision("wait", "%s unreachable for %.0f s (guard %.0f s)" % (what, now - since, context["grace_s"]))
        return _run("%s lost for %.0f s with the primary of %s" % (what, now - since, ", ".join(hit)),
                    "failover.yml", dict(lost, confirm_failover="yes"))
    return None


def _returned_groups(fleet, context):
    """(what, hosts, the split_brain.yml extra var) of every failed-over site, then host."""
    sites = sites_of(fleet)
    for site in sorted(context["failed_over"]):
        yield "site " + site, sites[site], {"split_brain_loser_site": site}
    for host in sorted(context["failed_over_hosts"]):
        yield "host " + host, [host], {"split_brain_loser": host}


def _returning(fleet, infos, context):
    view = primary_view(fleet, infos, context)
    for what, hosts, loser in _returned_groups(fleet, context):
        if any(infos.get(h) is None for h in hosts):
            continue
        behind = [(n, h) for n, p in view.items() for h, res in member_facts(infos, n)
                  if h in hosts and res.get("designated_primary") != p and not res.get("split_brain")]
        if behind:
            return Decision("wait", "%s is back; waiting for %s to see the primary of %s" % (what, behind[0][1], behind[0][0]))
        stop = [(n, h) for n in sorted(fleet["resources"]) for h, _res in member_facts(infos, n) if h in hosts]
        return _run("%s is back after a failover" % what, "split_brain.yml", dict(loser, confirm_split_brain="yes"), stop)
    return None


def _split_brain(fleet, infos, context):
    view = primary_view(fleet, infos, context)
    for name in sorted(fleet["resources"]):
        for _host, res in member_facts(infos, name):
            if not res.get("split_brain"):
                continue
            pairs = res.get("split_brain_pairs") or []
            hosts = sorted({h for pair in pairs for h in pair.get("hosts", [])} - {view[name]})
            if hosts:
                return _run("%s: split brain, %s is not the primary %s" % (name, hosts[0], view[name]), "split_brain.yml",
                            {"split_brain_loser": hosts[0], "confirm_split_brain": "yes"}, [(name, hosts[0])])
    return None


def _space(fleet, infos):
    for host, info in sorted(infos.items()):
        if info and (info.get("cluster", {}).get("emergency_level") or any(r.get("emergency") for r in info.get("resources", {}).values())):
            return Decision("wait", "%s: emergency mode; free space on /mars first" % host)
    for name in sorted(fleet["resources"]):
        for host, res in member_facts(infos, name):
            if res.get("needs_full_sync"):
                return _run("%s: %s needs a full sync after an emergency" % (name, host), "resync.yml", {"confirm_resync": "yes"})
    return None


def _converge(fleet, infos, view):
    for host, info in sorted(infos.items()):
        if info and not info.get("cluster", {}).get("module_loaded"):
            return _run("%s: MARS is not loaded" % host, "site.yml", {})
    for name, spec in sorted(fleet["resources"].items()):
        if view[name] is None:
            return _run("%s: no designated primary" % name, "site.yml", {})
        members = dict(member_facts(infos, name))
        for host in spec["replicas"]:
            if host not in members:
                return _run("%s: %s is not a member" % (name, host), "site.yml", {})
            hosts = members[host].get("hosts", {})
            if not hosts.get(host, {}).get("attached", True):
                return _run("%s: %s is not attached" % (name, host), "site.yml", {})
    return None


def _lagging(fleet, infos, limit):
    for name in sorted(fleet["resources"]):
        for host, res in member_facts(infos, name):
            if not res.get("consistent") or res.get("sync_rest"):
                return "%s: %s is not consistent or still syncing" % (name, host)
            if (res.get("fetch_rest") or 0) + (res.get("replay_rest") or 0) > limit:
                return "%s: %s lags %d bytes" % (name, host, res["fetch_rest"] + res["replay_rest"])
    return None


def home(spec):
    return spec.get("primary") or (spec.get("preferred_primaries") or [None])[0]


def decide(fleet, infos, faults, context, now):
    """The next step, as a ``Decision``."""
    last = context.get("last_run")
    if last and last.get("interrupted"):
        return _run("the last %s run was interrupted" % last["playbook"], last["playbook"], last["extra_vars"])
    step = _failover(fleet, infos, context, now) or _returning(fleet, infos, context)
    if step:
        return step
    unreachable = sorted(h for h in fleet["sites"] if infos.get(h) is None)
    if unreachable:
        return Decision("wait", "unreachable: %s" % ", ".join(unreachable))
    if faults:
        return Decision("wait", "fault active: %s" % ", ".join(f["name"] for f in faults))
    view = primary_view(fleet, infos, context)
    step = _split_brain(fleet, infos, context) or _space(fleet, infos) or _converge(fleet, infos, view)
    if step:
        return step
    lag = _lagging(fleet, infos, context["lag_limit"])
    for request in context["requests"]:
        if lag:
            return Decision("wait", "before %s: %s" % (request["playbook"], lag))
        name = request["extra_vars"].get("handover_resource")
        return _run("planned: %s" % request["playbook"], request["playbook"], request["extra_vars"], [(name, view.get(name))] if name else [])
    for name, spec in sorted(fleet["resources"].items()):
        want = home(spec)
        if want and view[name] != want:
            if lag:
                return Decision("wait", "before handing %s back: %s" % (name, lag))
            return _run("%s: primary %s, home %s" % (name, view[name], want), "handover.yml",
                        {"handover_resource": name, "handover_target": want}, [(name, view[name])])
    if lag:
        return Decision("wait", lag)
    return Decision("none", "healthy")

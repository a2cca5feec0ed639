"""The collection-wide settings (mars_group, mars_dir, mars_marsadm_path) have one name and one
default in every role and playbook: a role that redefines one differently, documents it
differently, or a playbook that names the group 'mars' directly would let them drift apart."""

import glob
import os
import re

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SETTINGS = {'mars_group': 'mars', 'mars_dir': '/mars', 'mars_marsadm_path': '/usr/sbin/marsadm'}
RETIRED = ('mars_cluster_group', 'mars_resources_cluster_group', 'mars_firewall_peer_group', 'mars_kmod_mars_dir',
           'mars_housekeeping_mars_dir', 'mars_monitoring_mars_dir', 'mars_storage_mountpoint',
           'mars_kmod_marsadm_path', 'mars_housekeeping_marsadm')


def load(path):
    with open(path, encoding='utf-8') as handle:
        return yaml.safe_load(handle) or {}


def role_files(pattern):
    files = sorted(glob.glob(os.path.join(REPO, 'roles', '*', pattern)))
    assert files, pattern
    return files


def test_every_role_defaults_a_setting_to_the_same_value():
    seen = {name: [] for name in SETTINGS}
    for path in role_files('defaults/main.yml'):
        defaults = load(path)
        for name, value in SETTINGS.items():
            if name in defaults:
                assert defaults[name] == value, path
                seen[name].append(path)
    assert all(seen.values()), seen


def test_every_role_documents_a_setting_it_uses_the_same_way():
    descriptions = {}
    for path in role_files('meta/argument_specs.yml'):
        role = os.path.basename(os.path.dirname(os.path.dirname(path)))
        with open(os.path.join(os.path.dirname(path), '..', 'defaults', 'main.yml'), encoding='utf-8') as handle:
            defaults = yaml.safe_load(handle) or {}
        main = load(path)['argument_specs']['main']['options']
        for name, value in SETTINGS.items():
            if name in defaults:
                assert name in main, '%s: %s is in defaults but not in argument_specs' % (role, name)
            for entry in load(path)['argument_specs'].values():
                spec = entry.get('options', {}).get(name)
                if spec:
                    assert str(spec['default']) == value, (role, name)
                    descriptions.setdefault(name, set()).add(str(spec['description']))
    assert set(descriptions) == set(SETTINGS)
    assert all(len(texts) == 1 for texts in descriptions.values()), descriptions


def test_no_file_uses_a_retired_name_or_the_literal_group():
    retired = re.compile(r'\b(%s)\b' % '|'.join(RETIRED))
    literal_group = re.compile(r"groups\[['\"]mars['\"]\]|^\s*hosts:\s*mars\s*$", re.M)
    paths = (glob.glob(os.path.join(REPO, 'roles', '**', '*.yml'), recursive=True)
             + glob.glob(os.path.join(REPO, 'roles', '**', '*.j2'), recursive=True)
             + glob.glob(os.path.join(REPO, 'playbooks', '*.yml'))
             + glob.glob(os.path.join(REPO, 'playbooks', 'tasks', '*.yml'))
             + glob.glob(os.path.join(REPO, 'inventories', '**', '*.yml'), recursive=True))
    assert paths
    for path in paths:
        with open(path, encoding='utf-8') as handle:
            text = handle.read()
        assert not retired.search(text), path
        assert not literal_group.search(text), path

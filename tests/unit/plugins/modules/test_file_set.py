"""georep.mars.file_set: many files in one call, changing only what differs, honest in check mode."""

import json
import os
import stat

import pytest

from ansible.module_utils import basic
from ansible_collections.georep.mars.tests.unit.plugins.modules.mars_harness import patch_module_args
from ansible_collections.georep.mars.plugins.modules import file_set


class Exit(Exception):
    pass


def run(monkeypatch, args, check_mode=False, diff=False):
    def finish(_module, **result):
        raise Exit(result)

    def fail(_module, **result):
        raise Exit(dict(result, failed=True))

    monkeypatch.setattr(basic.AnsibleModule, 'exit_json', finish)
    monkeypatch.setattr(basic.AnsibleModule, 'fail_json', fail)
    full = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
    with patch_module_args(full):
        with pytest.raises(Exit) as done:
            file_set.main()
    result = done.value.args[0]
    assert not result.get('failed'), json.dumps(result)
    return result


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def wanted(root):
    return {
        'directories': [{'path': str(root / 'lib' / 'georep'), 'mode': '0750'}],
        'files': [{'path': str(root / 'lib' / 'georep' / 'check.py'), 'content': '#!/usr/bin/python3\nprint(1)', 'mode': '0755'},
                  {'path': str(root / 'check.service'), 'content': '[Unit]\n'}],
    }


def test_first_run_installs_everything_and_adds_the_final_newline(tmp_path, monkeypatch):
    result = run(monkeypatch, wanted(tmp_path))
    assert result['changed']
    assert result['changed_paths'] == [str(tmp_path / 'lib' / 'georep'), str(tmp_path / 'lib' / 'georep' / 'check.py'),
                                       str(tmp_path / 'check.service')]
    assert (tmp_path / 'lib' / 'georep' / 'check.py').read_text() == '#!/usr/bin/python3\nprint(1)\n'
    assert mode(tmp_path / 'lib' / 'georep') == 0o750
    assert mode(tmp_path / 'lib' / 'georep' / 'check.py') == 0o755
    assert mode(tmp_path / 'check.service') == 0o644


def test_second_run_changes_nothing(tmp_path, monkeypatch):
    run(monkeypatch, wanted(tmp_path))
    result = run(monkeypatch, wanted(tmp_path))
    assert not result['changed'] and result['changed_paths'] == []


def test_check_mode_reports_and_writes_nothing(tmp_path, monkeypatch):
    result = run(monkeypatch, wanted(tmp_path), check_mode=True)
    assert result['changed'] and len(result['changed_paths']) == 3
    assert list(tmp_path.iterdir()) == []


def test_only_what_differs_changes_with_a_diff(tmp_path, monkeypatch):
    run(monkeypatch, wanted(tmp_path))
    args = wanted(tmp_path)
    args['files'][1]['content'] = '[Unit]\nDescription=new\n'
    os.chmod(tmp_path / 'lib' / 'georep' / 'check.py', 0o700)
    result = run(monkeypatch, args, diff=True)
    assert result['changed_paths'] == [str(tmp_path / 'lib' / 'georep' / 'check.py'), str(tmp_path / 'check.service')]
    assert [d['after'] for d in result['diff']] == ['[Unit]\nDescription=new\n']
    assert mode(tmp_path / 'lib' / 'georep' / 'check.py') == 0o755


def test_check_mode_on_a_changed_file_leaves_it(tmp_path, monkeypatch):
    run(monkeypatch, wanted(tmp_path))
    args = wanted(tmp_path)
    args['files'][1]['content'] = 'other'
    result = run(monkeypatch, args, check_mode=True)
    assert result['changed_paths'] == [str(tmp_path / 'check.service')]
    assert (tmp_path / 'check.service').read_text() == '[Unit]\n'


def test_links_are_made_and_repointed_once(tmp_path, monkeypatch):
    target = tmp_path / 'modprobe'
    target.write_text('old file in the way\n')
    args = {'links': [{'path': str(target), 'src': '/usr/lib/shim'}]}
    assert run(monkeypatch, args, check_mode=True)['changed'] and not os.path.islink(target)
    assert run(monkeypatch, args)['changed_paths'] == [str(target)]
    assert os.readlink(target) == '/usr/lib/shim'
    assert not run(monkeypatch, args)['changed']

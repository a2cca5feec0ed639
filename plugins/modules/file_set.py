#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, georep.mars contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: file_set
short_description: Install a set of small files and directories in one pass
version_added: 1.0.0
description:
  - Makes each directory of O(directories), writes each file of O(files) with its content, mode, owner and
    group, and points each symbolic link of O(links) to its target, changing only what differs. One call checks and installs all of them, where one
    M(ansible.builtin.copy) or M(ansible.builtin.template) task per file costs one remote round trip each,
    even when nothing changes.
  - The roles of this collection install their scripts, systemd units and rules with it, so that a run
    that changes nothing stays short. Contents come from the controller, for example with the
    P(ansible.builtin.file#lookup) and P(ansible.builtin.template#lookup) lookups.
  - Files are replaced atomically; parents of a file must be listed in O(directories) or exist.
  - A final newline is added to a content without one, because the lookups that read files drop it.
author:
  - georep.mars developers (@georep)
options:
  directories:
    description: Directories to make (with their parents) or to give the mode, owner and group.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path of the directory.
        type: path
        required: true
      mode:
        description: Permissions, for example V('0755').
        type: raw
        default: '0755'
      owner:
        description: Owner name.
        type: str
      group:
        description: Group name.
        type: str
  files:
    description: Files to write.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path of the file.
        type: path
        required: true
      content:
        description: The whole content of the file.
        type: str
        required: true
      mode:
        description: Permissions, for example V('0644').
        type: raw
        default: '0644'
      owner:
        description: Owner name.
        type: str
      group:
        description: Group name.
        type: str
  links:
    description: Symbolic links to make or to point elsewhere; whatever is at O(links[].path) is replaced.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path of the link.
        type: path
        required: true
      src:
        description: What the link points to.
        type: path
        required: true
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in diff mode).
    support: full
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
'''

EXAMPLES = r'''
- name: Install the script and its unit
  georep.mars.file_set:
    directories:
      - {path: /usr/local/libexec/georep-mars, mode: "0755"}
    files:
      - path: /usr/local/libexec/georep-mars/check.py
        content: "{{ lookup('ansible.builtin.file', 'check.py') }}"
        mode: "0755"
      - path: /etc/systemd/system/check.service
        content: "{{ lookup('ansible.builtin.template', 'check.service.j2') }}"
        mode: "0644"
  notify: Reload systemd
'''

RETURN = r'''
changed_paths:
  description: The directories, files and links that were (in check mode, would be) made or changed, in order.
  returned: always
  type: list
  elements: str
  sample: [/etc/systemd/system/check.service]
'''

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes


def current_content(path):
    try:
        with open(path, 'rb') as handle:
            return handle.read()
    except (IOError, OSError):
        return None


def attributes_differ(module, entry, path):
    """Whether mode, owner or group of PATH differ from ENTRY (asked in check mode, set otherwise)."""
    args = module.load_file_common_arguments(dict(path=path, mode=entry.get('mode'), owner=entry.get('owner'),
                                                  group=entry.get('group')))
    return module.set_fs_attributes_if_different(args, False)


def install_directory(module, entry):
    path = entry['path']
    made = not os.path.isdir(path)
    if made and not module.check_mode:
        os.makedirs(path)
    if made and module.check_mode:
        return True
    return attributes_differ(module, entry, path) or made


def install_file(module, entry, diffs):
    path = entry['path']
    text = entry['content'] if entry['content'].endswith('\n') else entry['content'] + '\n'
    wanted = to_bytes(text, errors='surrogate_or_strict')
    old = current_content(path)
    differs = old != wanted
    if differs:
        diffs.append({'before_header': path, 'after_header': path,
                      'before': '' if old is None else old.decode('utf-8', 'replace'), 'after': text})
        if not module.check_mode:
            handle, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix='.georep-mars-')
            with os.fdopen(handle, 'wb') as out:
                out.write(wanted)
            module.atomic_move(temporary, path)
        elif old is None:
            return True  # no file yet to compare mode and owner with
    return attributes_differ(module, entry, path) or differs


def install_link(module, entry):
    path, src = entry['path'], entry['src']
    if os.path.islink(path) and os.readlink(path) == src:
        return False
    if not module.check_mode:
        temporary = os.path.join(os.path.dirname(path), '.georep-mars-link-%d' % os.getpid())
        os.symlink(src, temporary)
        os.rename(temporary, path)  # atomic, replaces a file or an old link
    return True


def main():
    def entry(mode):
        return dict(path=dict(type='path', required=True), mode=dict(type='raw', default=mode), owner=dict(type='str'),
                    group=dict(type='str'))
    module = AnsibleModule(
        argument_spec=dict(
            directories=dict(type='list', elements='dict', default=[], options=entry('0755')),
            files=dict(type='list', elements='dict', default=[],
                       options=dict(entry('0644'), content=dict(type='str', required=True))),
            links=dict(type='list', elements='dict', default=[],
                       options=dict(path=dict(type='path', required=True), src=dict(type='path', required=True))),
        ),
        supports_check_mode=True,
    )
    changed_paths, diffs = [], []
    for directory in module.params['directories']:
        if install_directory(module, directory):
            changed_paths.append(directory['path'])
    for item in module.params['files']:
        if install_file(module, item, diffs):
            changed_paths.append(item['path'])
    for link in module.params['links']:
        if install_link(module, link):
            changed_paths.append(link['path'])
    result = dict(changed=bool(changed_paths), changed_paths=changed_paths)
    if module._diff:
        result['diff'] = diffs
    module.exit_json(**result)


if __name__ == '__main__':
    main()

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, georep.mars contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):

    # Options shared by every module that runs marsadm.
    DOCUMENTATION = r'''
options:
  marsadm_path:
    description:
      - Path or name of the C(marsadm) executable.
      - When not set, C(marsadm) is searched in E(PATH) and in C(/usr/local/sbin), C(/usr/sbin), C(/sbin).
    type: str
  timeout:
    description:
      - Seconds passed to marsadm as C(--timeout) for every command, and the longest time a module waits
        for a condition (device appearing, handover finishing) after a command.
      - marsadm exits 0 when a waiting phase times out, so the modules always verify the result afterwards.
    type: int
    default: 600
  window:
    description:
      - Seconds passed to marsadm as C(--window). A peer whose C(/mars/actual-PEER/time) is older than this
        counts as dead; the modules use the same window for their own alive checks.
    type: int
    default: 60
requirements:
  - The MARS userspace tool C(marsadm) (2.9 or later) on the target.
  - A mounted C(/mars) filesystem on the target.
notes:
  - State is read directly from the C(/mars) symlink tree in one pass, with the same meaning as the
    C(marsadm view-*) macros; every change goes through C(marsadm) (never by writing links).
  - marsadm runs with C(LANG=C) in the working directory C(/), so that no C(*.tpl) macro or C(hook-*) script
    of the current directory is picked up.
'''

    # Attributes of the modules that change something.
    ATTRIBUTES = r'''
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details:
      - Check mode reads the state and reports the marsadm commands that would run in RV(commands_planned);
        nothing is run or written.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in diff mode).
    support: full
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
'''

    # Attributes of the read-only info module.
    INFO_ATTRIBUTES = r'''
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details:
      - This module only reads; it behaves the same in check mode.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in diff mode).
    support: N/A
    details:
      - This module never changes anything.
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
'''

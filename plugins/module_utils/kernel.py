# -*- coding: utf-8 -*-
# Copyright: (c) 2026, georep.mars contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which MARS sources build for which kernel: the one place of the kernel range rule."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

# 5.10.0-30-amd64 -> (5, 10, 0, 30): Debian's ABI number counts as a fourth part, because a
# MARS port can build for 5.10.0-30 and not for 5.10.0-32 (same upstream 5.10 series).
KERNEL_PARTS = re.compile(r'^([0-9]+(?:\.[0-9]+)*)(?:-([0-9]+))?')


def kernel_parts(release):
    """The numeric parts of a kernel release (``uname -r``) or of a range bound; () if none."""
    match = KERNEL_PARTS.match(str(release).strip())
    if not match:
        return ()
    parts = [int(p) for p in match.group(1).split('.')]
    if match.group(2) is not None:
        parts.append(int(match.group(2)))
    return tuple(parts)


def kernel_in_range(release, lowest, highest):
    """Is the kernel within lowest..highest, each bound compared on as many parts as it has?

    ``5.4.0-150-generic`` is within ``3.2``..``5.4``; ``5.10.0-32-amd64`` is not within
    ``5.10``..``5.10.0-30``. A release without a version number is in no range.
    """
    kernel = kernel_parts(release)
    low, high = kernel_parts(lowest), kernel_parts(highest)
    if not kernel or not low or not high:
        return False
    return kernel[:len(low)] >= low and kernel[:len(high)] <= high


def source_choice(choices, wanted, release):
    """The source choice named ``wanted``, or for ``auto`` the first whose range holds the kernel.

    With ``auto`` and no choice for the kernel, the first choice (MARS master) is returned: the
    range check that follows refuses it with a real range, and with that check off it is what
    an unknown kernel gets. Returns {} for an unknown name.
    """
    if wanted != 'auto':
        return next((dict(c) for c in choices if c.get('name') == wanted), {})
    for choice in choices:
        if kernel_in_range(release, choice.get('kernel_min', ''), choice.get('kernel_max', '')):
            return dict(choice)
    return dict(choices[0]) if choices else {}

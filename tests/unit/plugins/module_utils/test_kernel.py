# -*- coding: utf-8 -*-
# Copyright: (c) 2026, georep.mars contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The kernel range rule and the choice of MARS sources (plugins/module_utils/kernel.py)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.georep.mars.plugins.module_utils.kernel import kernel_in_range, kernel_parts, source_choice

CHOICES = [
    {"name": "stable", "version": "0.1astable177", "kernel_min": "3.2", "kernel_max": "5.4"},
    {"name": "qio-5.10", "version": "0.1a177qio510", "kernel_min": "5.10", "kernel_max": "5.10.0-30"},
]


@pytest.mark.parametrize("release, parts", [
    ("5.10.0-30-amd64", (5, 10, 0, 30)),
    ("5.4.0-150-generic", (5, 4, 0, 150)),
    ("6.1.0-27-cloud-amd64", (6, 1, 0, 27)),
    ("4.19.316", (4, 19, 316)),
    ("5.10", (5, 10)),
    ("5.10.0-30", (5, 10, 0, 30)),
    ("", ()),
    ("linux", ()),
])
def test_kernel_parts(release, parts):
    assert kernel_parts(release) == parts


@pytest.mark.parametrize("release, lowest, highest, inside", [
    ("5.4.0-150-generic", "3.2", "5.4", True),
    ("5.4.300", "3.2", "5.4", True),
    ("3.2.0", "3.2", "5.4", True),
    ("3.1.10", "3.2", "5.4", False),
    ("5.5.0", "3.2", "5.4", False),
    ("5.10.0-30-amd64", "3.2", "5.4", False),
    ("5.10.0-30-amd64", "5.10", "5.10.0-30", True),
    ("5.10.0-28-amd64", "5.10", "5.10.0-30", True),
    ("5.10.0-32-amd64", "5.10", "5.10.0-30", False),
    ("6.1.0-27-amd64", "5.10", "5.10.0-30", False),
    ("5.9.16", "5.10", "5.10.0-30", False),
    ("", "3.2", "5.4", False),
    ("5.4.0", "", "5.4", False),
])
def test_kernel_in_range(release, lowest, highest, inside):
    assert kernel_in_range(release, lowest, highest) is inside


def test_auto_picks_the_sources_whose_range_holds_the_kernel():
    assert source_choice(CHOICES, "auto", "4.19.0-27-amd64")["name"] == "stable"
    assert source_choice(CHOICES, "auto", "5.10.0-30-amd64")["name"] == "qio-5.10"


def test_auto_without_a_fitting_choice_gives_mars_master():
    assert source_choice(CHOICES, "auto", "6.1.0-27-amd64")["name"] == "stable"


def test_a_named_choice_wins_over_the_kernel_and_an_unknown_name_gives_nothing():
    assert source_choice(CHOICES, "stable", "5.10.0-30-amd64")["version"] == "0.1astable177"
    assert source_choice(CHOICES, "nonesuch", "5.10.0-30-amd64") == {}
    assert source_choice([], "auto", "5.10.0-30-amd64") == {}


def test_the_choice_is_a_copy():
    choice = source_choice(CHOICES, "auto", "5.10.0-30-amd64")
    choice["version"] = "changed"
    assert CHOICES[1]["version"] == "0.1a177qio510"

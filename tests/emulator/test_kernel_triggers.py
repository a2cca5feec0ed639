"""Trigger codes that arrive together in one read of /proc/sys/mars/trigger are split apart."""

import pytest

from marsemu.kernel.procsys import split_trigger_codes


@pytest.mark.parametrize("text, codes", [
    ("3", ["3"]),
    ("3p a b c", ["3", "p a b c"]),
    ("p a b c\n3\n", ["p a b c", "3"]),
    # a push followed by a scan in the same read: the push keeps exactly its three fields
    ("p h3 /mars/ips/ip-h3 /mars/ips/ip-h3 3", ["p h3 /mars/ips/ip-h3 /mars/ips/ip-h3", "3"]),
    ("P h3 10.0.0.3 /mars/a /mars/a 8", ["P h3 10.0.0.3 /mars/a /mars/a", "8"]),
    ("t 5 1", ["t 5", "1"]),
    ("x whatever comes", ["x whatever comes"]),
])
def test_split(text, codes):
    assert split_trigger_codes(text) == codes

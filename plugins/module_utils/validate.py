# -*- coding: utf-8 -*-
# Copyright: (c) 2026, georep.mars contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The one place of the input rules: resource and host names, IPv4 addresses, sizes.

The modules, the filters and the test plugins import this file, and scripts can ship
it beside themselves: it has no Ansible imports.  The rules are the real marsadm's, so
that a name or size the collection accepts is one marsadm accepts too.  Citations are
to ``userspace/marsadm`` and ``kernel/mars_net.c`` of the MARS sources, at commit
84810029 (branch WIP-qio-for-5.10) and, in brackets, at mars0.1astable177 (2a3f5f04,
also master); the rules are the same in both.

Every ``*_error`` function returns None when the value is good, else one sentence
(without a final full stop, so that callers can join several with ``'; '``) that says
what is wrong and what to do.  :func:`parse_size` returns bytes or raises
:class:`ValidationError` carrying such a sentence.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ipaddress
import re

# check_id(), marsadm line 3165 (3111): an identifier is ASCII letters, digits, '_' and
# '-', and does not start with '-'.  Perl's '$' also matches before a final newline; we
# do not copy that slip.
IDENTIFIER_RE = re.compile(r'[A-Za-z0-9_][-A-Za-z0-9_]*\Z')
# check_id(), marsadm line 3166 (3112).
IDENTIFIER_MAX_LENGTH = 63
# marsadm line 34 (34).  check_id() with abort_reserved set (create-resource for the
# resource and device name, line 5407 (5354); lowlevel-set-host-ip, line 4840 (4788);
# --host=, line 11244 (10995)) refuses them unless --force, which the collection does
# not give.
RESERVED_NAMES = ('none', 'all', 'any', 'full', 'empty', 'undefined', 'remote', 'local', 'localhost')

# get_size(), marsadm lines 4324-4356 (4272-4304): a decimal number, optionally with a
# fraction, and at most one suffix; lower case is a power of 1000, upper case of 1024.
# Nothing else: no 'B', no 'iB', no sign, no space inside.
SIZE_RE = re.compile(r'([0-9]+)(?:\.([0-9]*))?([kmgtpKMGTP]?)\Z')
SIZE_FACTORS = {'': 1, 'k': 1000, 'm': 1000 ** 2, 'g': 1000 ** 3, 't': 1000 ** 4, 'p': 1000 ** 5,
                'K': 1024, 'M': 1024 ** 2, 'G': 1024 ** 3, 'T': 1024 ** 4, 'P': 1024 ** 5}
SIZE_SUFFIX_HELP = ("bytes or a number with one suffix k, m, g, t, p (powers of 1000) or K, M, G, T, P "
                    "(powers of 1024), e.g. 100G")
# get_size(), marsadm line 4355 (4303): whole 4 KiB blocks only.
SIZE_BLOCK = 4096
# create_res(), marsadm line 5468 (5419): a resource must be larger than 16 blocks.
RESOURCE_SIZE_MINIMUM = 16 * SIZE_BLOCK

EXAMPLE_IPV4 = '10.0.0.2'


class ValidationError(ValueError):
    """A value the real marsadm would refuse; ``str()`` is the one-sentence reason."""


def _text(value):
    """VALUE as text, or None for what cannot be a name (None, booleans, lists, ...)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value
    return None


def _identifier_error(value, option, kind, example):
    """check_id(), marsadm lines 3162-3166 (3108-3112), with reserved names refused."""
    text = _text(value)
    if text is None and value is not None:
        return ("%s %r is not text (YAML reads yes, no, true and false as booleans): give a %s in quotes, "
                "e.g. '%s'" % (option, value, kind, example))
    if not text:
        return "%s is empty: give a %s of ASCII letters, digits, '_' and '-', e.g. '%s'" % (option, kind, example)
    # Perl treats the string '0' as false, so check_id() calls the name '0' empty (line 3164 (3110)).
    if text == '0':
        return "%s '0' is refused by marsadm, which reads it as empty: choose another %s" % (option, kind)
    if not IDENTIFIER_RE.match(text):
        suggestion = re.sub(r'[^-A-Za-z0-9_]', '-', text).strip('-')[:IDENTIFIER_MAX_LENGTH]
        if not suggestion or _identifier_error(suggestion, option, kind, example) is not None:
            suggestion = example
        return ("%s '%s' is invalid: marsadm accepts only ASCII letters, digits, '_' and '-' (not as the first "
                "character) in a %s, use e.g. '%s'" % (option, text, kind, suggestion))
    if len(text) > IDENTIFIER_MAX_LENGTH:
        return ("%s '%s' is invalid: it has %d characters and marsadm accepts at most %d, shorten it"
                % (option, text, len(text), IDENTIFIER_MAX_LENGTH))
    if text in RESERVED_NAMES:
        return ("%s '%s' is invalid: marsadm reserves it (as it does %s), choose another %s"
                % (option, text, ', '.join(n for n in RESERVED_NAMES if n != text), kind))
    return None


def resource_name_error(name, option='resource name'):
    """None when NAME is a resource name marsadm accepts, else why not."""
    return _identifier_error(name, option, 'resource name', 'pg-orders')


def device_name_error(name, option='device name'):
    """None when NAME is a /dev/mars device name marsadm accepts (the resource name rule), else why not."""
    return _identifier_error(name, option, 'device name', 'pg-orders')


def host_name_error(name, option='host name'):
    """None when NAME is a MARS host name, else why not.

    marsadm names a host by ``uname -n`` and dies when it contains a dot (line 279 (276));
    the name must pass check_id() (line 281 (278)), and reserved names are refused as
    peers (lines 4840 (4788), 11244 (10995)).
    """
    text = _text(name)
    if text and '.' in text and not text.startswith('.'):
        short = text.split('.')[0]
        if _identifier_error(short, option, 'host name', 'db1') is None:
            return ("%s '%s' is not a MARS host name: MARS uses the short node name ('uname -n' without a domain, "
                    "e.g. '%s'), set the host name and the inventory name to it" % (option, text, short))
    return _identifier_error(name, option, 'host name', 'db1')


def _ipv4(text):
    """The IPv4 address TEXT, strictly dotted decimal (no leading zeros on any Python), or None."""
    parts = text.split('.')
    if len(parts) != 4 or any(len(part) > 1 and part.startswith('0') for part in parts):
        return None
    try:
        return ipaddress.IPv4Address(text)
    except ValueError:
        return None


def _is_ipv6(text):
    try:
        ipaddress.IPv6Address(text[1:-1] if text.startswith('[') and text.endswith(']') else text)
    except ValueError:
        return False
    return True


def _ipv6_error(option, text):
    return ("%s '%s' is IPv6, but MARS replicates over IPv4 only: give an IPv4 address such as %s"
            % (option, text, EXAMPLE_IPV4))


def ipv4_address_error(value, option='address'):
    """None when VALUE is an IPv4 address, else why not.

    MARS speaks IPv4 only: marsadm's _get_ip() looks for IPv4 addresses only (lines
    4716-4727 (4664-4675)), and the kernel module makes AF_INET sockets and parses
    dotted quads, answering "IPv6 is NYI" to anything else (kernel/mars_net.c lines
    202-220 (138-156)).
    """
    text = '' if value is None else str(value)
    if not text:
        return "%s is empty: give an IPv4 address such as %s" % (option, EXAMPLE_IPV4)
    if _is_ipv6(text):
        return _ipv6_error(option, text)
    if _ipv4(text) is None:
        return "%s '%s' is not an IPv4 address: give four numbers 0-255 joined by dots, such as %s" % (
            option, text, EXAMPLE_IPV4)
    return None


def ipv4_peer_error(value, option='peer'):
    """None when VALUE is an IPv4 address or an IPv4 network ``ADDRESS/LENGTH``, else why not.

    For allow lists (the firewall role): one host or a whole replication subnet.
    """
    text = '' if value is None else str(value)
    address, slash, length = text.partition('/')
    if not slash:
        return ipv4_address_error(text, option)
    if _is_ipv6(address):
        return _ipv6_error(option, text)
    if _ipv4(address) is None or not re.match(r'(0|[1-9][0-9]?)\Z', length) or int(length) > 32:
        return ("%s '%s' is neither an IPv4 address nor an IPv4 network: give e.g. %s or 10.0.0.0/24"
                % (option, text, EXAMPLE_IPV4))
    return None


def parse_size(value, option='size'):
    """Bytes of VALUE as marsadm's get_size() reads it; raises ValidationError otherwise.

    VALUE is an int (bytes) or text such as ``4096``, ``64M``, ``10g`` or ``1.5G``
    (lines 4335-4353 (4283-4301)); surrounding blanks are ignored.  The result must be
    whole 4 KiB blocks (line 4355 (4303)); marsadm would also accept a fraction of a byte
    whose integer part is whole blocks (Perl's ``%`` drops the fraction), the collection
    does not.
    """
    return _parse_size(value, option, 0)


def _parse_size(value, option, smallest):
    """parse_size(); a size that is not whole blocks gets a suggestion of at least SMALLEST bytes."""
    if value is None:
        raise ValidationError("%s is not set: give %s" % (option, SIZE_SUFFIX_HELP))
    if isinstance(value, bool):
        raise ValidationError("%s %r is a boolean, not a size: give %s" % (option, value, SIZE_SUFFIX_HELP))
    text = str(value).strip()
    match = SIZE_RE.match(text)
    if not match:
        raise ValidationError("%s '%s' is not a size marsadm accepts: give %s" % (option, text, SIZE_SUFFIX_HELP))
    whole, fraction, suffix = match.group(1), match.group(2) or '', match.group(3)
    scaled = int(whole + fraction) * SIZE_FACTORS[suffix]
    if scaled % (10 ** len(fraction)):
        raise ValidationError("%s '%s' is not a whole number of bytes: give %s" % (option, text, SIZE_SUFFIX_HELP))
    size = scaled // (10 ** len(fraction))
    if size % SIZE_BLOCK:
        suggestion = max(size // SIZE_BLOCK + 1, smallest // SIZE_BLOCK) * SIZE_BLOCK
        raise ValidationError("%s '%s' (%d bytes) is not a multiple of %d bytes, as marsadm requires: use e.g. %d"
                              % (option, text, size, SIZE_BLOCK, suggestion))
    return size


def resource_size_error(value, option='size'):
    """None when VALUE is a size a resource can have, else why not.

    create-resource refuses sizes up to 64 KiB (line 5468 (5419)); resize needs a
    positive size (line 7567 (7338)) and cannot shrink, so the same floor holds.
    """
    try:
        size = _parse_size(value, option, RESOURCE_SIZE_MINIMUM + SIZE_BLOCK)
    except ValidationError as exc:
        return str(exc)
    if size <= RESOURCE_SIZE_MINIMUM:
        return ("%s '%s' (%d bytes) is too small: marsadm needs a resource larger than 64 KiB (%d bytes), give "
                "e.g. 128K" % (option, str(value).strip(), size, RESOURCE_SIZE_MINIMUM))
    return None


def backing_disk_error(disk, host, measured, needed=None, resource=None):
    """None when DISK on HOST can back RESOURCE, else why not.

    MEASURED is what the host found: None when the path does not exist, -1 when it is no
    block device (marsadm takes block devices only), else its size in bytes, which must
    hold NEEDED bytes when given.
    """
    if measured is None:
        return "disk '%s' does not exist on %s; create the LV/partition first or fix the path" % (disk, host)
    if measured < 0:
        return ("disk '%s' on %s is not a block device; MARS needs a block device such as an LV or a partition"
                % (disk, host))
    if needed and measured < needed:
        return ("disk '%s' on %s has %d bytes, less than the %d bytes of resource '%s'; use a larger disk or a "
                "smaller size" % (disk, host, measured, needed, resource))
    return None

"""Free space on /mars and the emergency levels derived from it (``compute_emergency_mode``).

The four limits ``/proc/sys/mars/required_free_space_{4,3,2,1}_gb`` add up: with less free space
than limit 4 the mode is 4, than limits 4+3 it is 3, and so on.  What the levels do:
* 1: a warning only;
* 2 and up: secondaries stop fetching (they would only fill /mars further);
* 4 ("jammed"): primaries enter emergency mode: transaction logging stops, a hole is left in the
  logfile sequence, writes go straight to the disk (see ``roles``).
With ``mars_reset_emergency`` = 1 the mode comes down by one level per pass only (hysteresis).

The module refuses to load when the space left above the limits is below
``required_total_space_0_gb``.  Like the kernel, that comparison takes the KiB figure against the
raw number, so in practice a /mars no larger than the sum of the limits (8 GiB by default) is
refused, and one a little larger loads in warning level 1: what was measured on the real module
(reference section 10).
"""

import errno
import os

LIMITS = ("required_free_space_4_gb", "required_free_space_3_gb", "required_free_space_2_gb",
          "required_free_space_1_gb")
DEFAULT_LIMIT_GB = 2
MINIMUM = "required_total_space_0_gb"
DEFAULT_MINIMUM = 12
KIB_PER_GIB = 1024 * 1024


def mode_for(rest_kib, limits_gb):
    """The emergency mode for ``rest_kib`` free, and the sum of the limits in KiB."""
    limit = 0
    mode = 0
    for level, value in zip((4, 3, 2, 1), limits_gb):
        if value > 0:
            limit += value * KIB_PER_GIB
        if rest_kib < limit and not mode:
            mode = level
    return mode, limit


def space_low_warning(mode):
    """The ``wrn-space-low`` message for an emergency mode, or None (``make_log_finalize``).

    The kernel shows it on every resource; a secondary that can free an old logfile at level 2
    and up says so instead, but this emulator frees none.
    """
    if mode > 2:
        return "EMERGENCY: the space on /mars/ is VERY low."
    if mode > 1:
        return "EMERGENCY: the space on /mars/ is low."
    if mode > 0:
        return "EMERGENCY: the space on /mars/ is becoming low."
    return None


class SpaceGuard:
    """Tracks the emergency mode of one host; ``update`` once per main-loop pass."""

    def __init__(self, procsys, mars_path, statvfs=os.statvfs):
        self.procsys = procsys
        self.mars_path = mars_path
        self.statvfs = statvfs
        self.mode = 0
        self.remaining_kib = 0  # free space above the limits
        self.present_kib = 0  # size of /mars above the limits

    def _raw(self):
        st = self.statvfs(self.mars_path)
        return st.f_bavail * st.f_frsize // 1024, st.f_blocks * st.f_frsize // 1024

    def _limits(self):
        return [self.procsys.get_int(name, DEFAULT_LIMIT_GB) for name in LIMITS]

    def check_load(self):
        """Raise ENOSPC, as ``modprobe mars`` fails, when /mars is too small."""
        _rest, total = self._raw()
        _mode, limit = mode_for(0, self._limits())
        if total - limit < self.procsys.get_int(MINIMUM, DEFAULT_MINIMUM):
            raise OSError(errno.ENOSPC, "No space left on device: %s has %d GiB, more than %d GiB are needed"
                          % (self.mars_path, total // KIB_PER_GIB, limit // KIB_PER_GIB))

    def update(self):
        rest, total = self._raw()
        mode, limit = mode_for(rest, self._limits())
        if self.procsys.get_int("mars_reset_emergency", 1) and self.mode > mode:
            self.mode -= 1  # recover one level per pass
        else:
            self.mode = mode
        self.remaining_kib = max(0, rest - limit)
        self.present_kib = total - limit
        self.procsys.set_value("mars_emergency_mode", self.mode)
        self.procsys.set_value("remaining_space_kb", self.remaining_kib)
        return self.mode

    @property
    def jammed(self):
        return self.mode > 3

    @property
    def exhausted(self):
        return self.mode > 0

    @property
    def secondaries_stop(self):
        return self.mode > 1

    def below_percent(self, percent):
        """``set-emergency-limit``: less than ``percent`` % of /mars left above the limits."""
        return percent > 0 and self.present_kib > 0 and self.remaining_kib * 100 // self.present_kib < percent

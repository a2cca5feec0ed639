"""Loop devices of tests: the machine's kernel has one set, shared by every pytest worker and lab host.

A device number a test frees can belong to another worker a moment later, so a test detaches the
devices that still sit on its own image, never a number it remembers.
"""

import subprocess
import time


def on_image(image):
    """The loop devices attached to the file IMAGE now."""
    return subprocess.run(["losetup", "--noheadings", "--output", "NAME", "--associated", image],
                          capture_output=True, text=True, check=False).stdout.split()


def detach(image, attempts=10):
    """Detach every loop device still on IMAGE (udev may hold a just-used one for a moment)."""
    for _attempt in range(attempts):
        devices = on_image(image)
        if not devices:
            return
        for device in devices:
            subprocess.run(["losetup", "-d", device], capture_output=True, check=False)
        time.sleep(0.2)

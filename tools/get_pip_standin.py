"""Stand-in for the get-pip script ansible-test downloads from a host this machine cannot reach.

ansible-test runs it inside each fresh virtual environment with pip's install options; pip
comes from the interpreter's own ``ensurepip`` instead, then the requested packages are
installed.  ``make deps`` copies it to ``~/.ansible/test/cache/get_pip_<version>.py``.
"""

import os
import subprocess
import sys


def main():
    # ensurepip in a child process: in-process it would leave PIP_CONFIG_FILE=/dev/null behind,
    # and pip would then lose the machine's certificate settings.
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"], stdout=subprocess.DEVNULL)
    options = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
    subprocess.check_call([sys.executable, "-m", "pip", "install"] + options, env=dict(os.environ))


if __name__ == "__main__":
    main()

"""Entry point: ``python3 -m marsemu.marsadm ARGS`` behaves like ``marsadm ARGS``."""

import sys

from marsemu.marsadm.cli import main

sys.exit(main(sys.argv[1:]))

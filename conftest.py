"""Make ``ansible_collections.georep.mars`` importable from the work tree for pytest."""

import os

_ROOT = os.path.dirname(os.path.abspath(__file__))
_LINK = os.path.join(_ROOT, "build", "collections", "ansible_collections", "georep", "mars")

if not os.path.exists(_LINK):
    os.makedirs(os.path.dirname(_LINK), exist_ok=True)
    os.symlink(_ROOT, _LINK)

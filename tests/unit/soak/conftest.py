"""The soak package lives at the repository root (python3 -m soak); the info module runs on recorded trees."""

import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from ansible_collections.georep.mars.plugins.modules import info  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.georep.mars.tests.unit.plugins.modules.mars_harness import (  # noqa: E402,F401  pylint: disable=wrong-import-position,unused-import
    ExitJson, lab_factory, patch_module_args)


@pytest.fixture
def recorded_info(lab_factory):  # noqa: F811  pylint: disable=redefined-outer-name
    """The result of georep.mars.info on a recorded /mars tree (a mars_harness case: host, tree, tree_patch, now)."""
    def run(case):
        lab_factory(dict(case))
        with patch_module_args({}):
            with pytest.raises(ExitJson) as caught:
                info.main()
        return caught.value.args[0]
    return run

"""Loading a file of scripts/ as a module, so tests call its functions directly."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def load_script(file_name: str) -> ModuleType:
    script = SCRIPTS / file_name
    spec = importlib.util.spec_from_file_location(script.stem, script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # @dataclass looks its module up in sys.modules while the script is executed.
    sys.modules[spec.name] = module
    # A script imports its sibling modules (photo_catalogue) as `python scripts/X.py` would.
    added = str(SCRIPTS) not in sys.path
    if added:
        sys.path.insert(0, str(SCRIPTS))
    try:
        spec.loader.exec_module(module)
    finally:
        if added:
            sys.path.remove(str(SCRIPTS))
    return module

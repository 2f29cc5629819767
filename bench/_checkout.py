"""Benches run from a checkout (``python bench/NAME.py``): put its root on the import path, so
that the training tools in ``training/`` (not part of the installed package) import too."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

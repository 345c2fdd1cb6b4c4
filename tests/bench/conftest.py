"""Makes the repository's ``bench`` package importable for the benchmark's smoke test.

``python -m pytest`` (what ``make test`` runs) has the repository root on ``sys.path``; a bare
``pytest`` does not, and then ``import bench`` would find this ``tests/bench`` directory as a
namespace package instead. Setting ``pythonpath = ["."]`` in pyproject's pytest options would
make this file unnecessary.
"""

import sys
from pathlib import Path

REPO_ROOT = str(Path(__file__).resolve().parents[2])
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

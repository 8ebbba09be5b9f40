"""The main job of vos-suite: the evaluation matrix. See ``python ci/matrix.py --help``.

    hatch run matrix                     # every cell on the synthetic benchmark
    hatch run matrix --only mivos_prop   # some cells

The code lives in ``ci/vos_matrix/`` (cells, runners per method, scoring, report).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from vos_matrix.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())

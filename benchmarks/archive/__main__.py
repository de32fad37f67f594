"""``python -m benchmarks.archive``: see :mod:`benchmarks.archive._cli`."""

import sys

from benchmarks.archive._cli import main

sys.exit(main())

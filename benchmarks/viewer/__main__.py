"""``python -m benchmarks.viewer``: see :mod:`benchmarks.viewer._cli`."""

import sys

from benchmarks.viewer._cli import main

sys.exit(main())

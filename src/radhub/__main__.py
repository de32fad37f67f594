"""``python -m radhub``: the command line."""

import sys

from radhub.cli import main

sys.exit(main())

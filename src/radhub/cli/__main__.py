import sys

from radhub.cli import main

sys.exit(main())

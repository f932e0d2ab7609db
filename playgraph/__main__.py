"""``python -m playgraph``."""

import sys

from playgraph.cli import main

sys.exit(main())

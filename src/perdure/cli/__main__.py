"""``python -m perdure.cli``."""

import sys

from perdure.cli import main

sys.exit(main())

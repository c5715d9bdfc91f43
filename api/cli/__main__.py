"""`python -m api.cli`: the console script."""

import sys

from api.cli import main

sys.exit(main())

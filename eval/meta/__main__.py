"""`python -m eval.meta`."""

import sys

from eval.meta.cli import main

sys.exit(main())

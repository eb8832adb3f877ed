"""`python -m graph.serve`."""

import sys

from graph.serve.cli import main

sys.exit(main())

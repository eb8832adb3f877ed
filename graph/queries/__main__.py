"""`python -m graph.queries`."""

from graph.cli import run_cli
from graph.queries.cli import main

run_cli(main)

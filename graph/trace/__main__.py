"""`python -m graph.trace`."""

from graph.cli import run_cli
from graph.trace.cli import main

run_cli(main)

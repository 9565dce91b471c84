"""Command-line entry points (`mot-run`, `mot-eval`): argument parsing and reporting only."""

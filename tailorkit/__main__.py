"""``python -m tailorkit``: the command line."""

from tailorkit.cli.main import main

main()

"""``python -m tailorkit`` runs the command line."""

from tailorkit.cli import main

main()

"""The ``tailorkit`` command line. ``main`` is the entry point (``cli/main.py``); each module
here holds the commands of one concern."""

"""``python -m gendesign`` runs the CLI."""

from gendesign.cli.main import main

main()

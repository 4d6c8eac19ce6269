"""The gendesign command-line interface."""

"""Exceptions that carry one clear sentence for the user.

Every message names *what* is wrong and *where* (file, row, field), so the CLI
can print it as is, without a traceback.
"""

from __future__ import annotations


class GendesignError(Exception):
    """Base class for errors that the CLI reports as a single sentence."""


class InputError(GendesignError):
    """A file, folder or argument cannot be used (missing, unreadable, wrong format)."""


class StructureError(GendesignError):
    """One crystal structure is unusable (disordered, NaN coordinates, unknown element...).

    ``reason`` is the bare problem ("disordered site 3 (Cd0.5)"); ``str(err)``
    adds the location when one is known.
    """

    def __init__(self, reason: str, where: str | None = None):
        self.reason = reason
        self.where = where
        super().__init__(f"{where}: {reason}" if where else reason)

    def located(self, where: str) -> StructureError:
        """The same problem, now naming where it was found."""
        return StructureError(self.reason, where)


class ConfigError(GendesignError):
    """A configuration file or override has an unknown or invalid field."""


class DataRootError(GendesignError):
    """No data root could be found."""


class Interrupted(GendesignError):
    """The user stopped a long run (Ctrl-C); the message says what was kept and how to go on."""

    exit_code = 130  # the shell's convention for SIGINT

"""Errors in what the user gave ballast (as opposed to findings about an implementation).

A ``UsageError`` is printed as one line and ends the command with exit code 2: bad input to
ballast must never turn into a verdict or a traceback.
"""

from __future__ import annotations

USAGE_EXIT = 2


class UsageError(Exception):
    """Bad input to ballast itself: the message says what is wrong and how to fix it."""


class PeerTimeout(Exception):
    """The implementation under test did not answer in time (verdict TIMEOUT)."""


class PeerCrashed(Exception):
    """The implementation under test died (verdict CRASH)."""


class NotSupported(Exception):
    """The implementation under test does not offer what a test needs (NOT_SUPPORTED)."""


class NotObservable(Exception):
    """This target cannot show what a clause is about; the message says why."""


class ClauseViolated(Exception):
    """A test that watches every clause (a property test) stopped because a monitor saw a
    violation: the test's verdict is that clause's violation verdict, not ERROR."""

    def __init__(self, clauses: list[str], message: str) -> None:
        super().__init__(message)
        self.clauses = clauses

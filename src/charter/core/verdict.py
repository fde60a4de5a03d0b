"""Verdicts and their order: ``allow < ask < deny``."""

from __future__ import annotations

import enum
from collections.abc import Iterable

from charter.core.errors import InputError


class Verdict(enum.IntEnum):
    """A decision outcome; the integer order is the strictness order."""

    ALLOW = 0
    ASK = 1
    DENY = 2

    def __str__(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Verdict:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise InputError(
                f"unknown verdict {text!r}", hint="use one of: allow, ask, deny"
            ) from None

    @property
    def exit_code(self) -> int:
        """The CLI contract: 0 allow, 1 deny, 3 ask."""
        return {Verdict.ALLOW: 0, Verdict.DENY: 1, Verdict.ASK: 3}[self]


def strictest(verdicts: Iterable[Verdict], default: Verdict = Verdict.ALLOW) -> Verdict:
    """The maximum of ``verdicts``; ``default`` when there are none."""
    return max(verdicts, default=default)

"""Charter: a signed, layered, non-waivable constitution for AI coding agents.

The public library surface lives in the modules named after what they own:
``stack`` (load the layered rule stack), ``decision`` (evaluate a proposal),
``constitution`` (the agent-runtime TOML), ``gate`` (decide an action),
``bundle``/``signing`` (trust), ``audit`` and ``runner``.
"""

from __future__ import annotations

__version__ = "0.1.0"

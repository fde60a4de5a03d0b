"""The hook decision daemon and its tiny client (docs/hooks.md, 'The decision daemon').

An agent runs a hook before every tool call, as a new process. ``charter hook NAME``
pays for importing and verifying everything on each call; ``charter-hook NAME`` (the
client, :mod:`charter.hookd.client`, standard library only) forwards the call over a
per-user Unix socket to a daemon (:mod:`charter.hookd.server`, run by
``charter hook serve``) that keeps the verified constitution loaded and answers with
the same library function, or fails closed.

:mod:`charter.hookd.protocol` is what both sides share: where the socket lives, what
identifies a daemon, the framing and the fail-closed answers. Nothing in this package
imports Charter's heavy modules; the CLI hands the server its handler.
"""

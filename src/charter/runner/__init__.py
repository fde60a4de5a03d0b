"""The Runner: Charter as a decision service next to agents and CI.

``config`` reads the TOML, ``auth`` checks API tokens and roles, ``service``
holds the verified stack (pull → verify → extract → compile, refresh with
last-good/degraded, the watchdog and the audit store), and ``app`` is the
FastAPI shell over it.
"""

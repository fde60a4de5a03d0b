"""Optional parts of Charter and the one message for a part that is not installed.

The base install decides proposals and actions from the command line and the
hooks; the decision service, the PostgreSQL audit store and Sigstore keyless
signatures are extras (``pip install 'charter[runner]'`` …, or ``charter[all]``).
"""

from __future__ import annotations

import importlib.util

from charter.core.errors import ConfigError

#: Importable module -> the extra that installs it.
EXTRA_OF = {
    "fastapi": "runner",
    "uvicorn": "runner",
    "prometheus_client": "runner",
    "psycopg": "postgres",
    "sigstore": "keyless",
}


def missing(feature: str, module: str) -> ConfigError:
    """The error for ``feature`` when ``module`` (one of :data:`EXTRA_OF`) is absent."""
    extra = EXTRA_OF[module]
    return ConfigError(
        f"{feature} needs the {module} package, which is not installed",
        hint=f"pip install 'charter[{extra}]', or 'charter[all]'",
    )


def require(feature: str, *modules: str) -> None:
    """Raise :func:`missing` for the first of ``modules`` that cannot be imported."""
    for module in modules:
        if importlib.util.find_spec(module) is None:
            raise missing(feature, module)

"""What the configuration takes from outside config.yaml: which file, and the secrets it names.

Secrets never pass through the file: it names environment variables (``password_env``,
``secret_env``) and ``smtp_password()`` / ``unsubscribe_secret()`` read them when needed.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..settings import Settings

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # aggregator/
PACKAGED_CONFIG = PACKAGE_DIR / "data" / "config.yaml"
CONFIG_ENV = "AGGREGATOR_CONFIG"


def default_config_path(cli_value: str | os.PathLike[str] | None = None) -> Path:
    """The config to use: ``--config``, else ``$AGGREGATOR_CONFIG``, else ``./config.yaml``,
    else the packaged default (so ``pip install .`` alone gives a working tool)."""
    if cli_value:
        return Path(cli_value)
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    local = Path("config.yaml")
    return local if local.is_file() else PACKAGED_CONFIG


def smtp_password(settings: Settings) -> str | None:
    """The SMTP password from the environment variable named by ``digest.smtp.password_env``."""
    return _env_secret(settings.digest.smtp.password_env)


def unsubscribe_secret(settings: Settings) -> str | None:
    """The HMAC key for unsubscribe tokens, from the variable named by ``secret_env``."""
    return _env_secret(settings.secret_env)


def _env_secret(name: str) -> str | None:
    return (os.environ.get(name) or None) if name else None

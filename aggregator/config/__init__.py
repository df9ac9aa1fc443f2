"""Load and validate config.yaml into ``Settings`` (see ``aggregator.settings``).

Every problem is reported at once as ``PATH:LINE: key: message``. The accepted keys are derived
from the settings dataclasses (``schema``), the values are read by typed readers over the YAML
node tree (``reader``), and secrets stay in environment variables (``environment``).
"""

from .environment import (
    CONFIG_ENV,
    PACKAGE_DIR,
    PACKAGED_CONFIG,
    default_config_path,
    smtp_password,
    unsubscribe_secret,
)
from .kinds import SUBJECT_PLACEHOLDERS
from .loader import LOG_LEVELS, SECURITY_MODES, load, problems, warnings
from .values import WEEKDAYS, email_address, parse_duration, parse_schedule, parse_size

__all__ = [
    "CONFIG_ENV",
    "LOG_LEVELS",
    "PACKAGED_CONFIG",
    "PACKAGE_DIR",
    "SECURITY_MODES",
    "SUBJECT_PLACEHOLDERS",
    "WEEKDAYS",
    "default_config_path",
    "email_address",
    "load",
    "parse_duration",
    "parse_schedule",
    "parse_size",
    "problems",
    "smtp_password",
    "unsubscribe_secret",
    "warnings",
]

"""Configuration: one table of settings, read from arguments, environment and a TOML file.

Precedence is arguments > ``PREFCENTER_*`` environment > TOML file > defaults.
:mod:`~prefcenter.config.settings` is the table, :mod:`~prefcenter.config.types` the value
types, :mod:`~prefcenter.config.checks` the checks of a whole configuration and
:mod:`~prefcenter.config.loading` the only reader of the process environment.
"""

from prefcenter.config.loading import child_environment, load_settings, with_dev_keys
from prefcenter.config.settings import ENV_PREFIX, Settings, SettingSpec, settings_table
from prefcenter.config.types import FrequencyCap, Secret, parse_duration, split_hostport

__all__ = [
    "ENV_PREFIX",
    "FrequencyCap",
    "Secret",
    "SettingSpec",
    "Settings",
    "child_environment",
    "load_settings",
    "parse_duration",
    "settings_table",
    "split_hostport",
    "with_dev_keys",
]

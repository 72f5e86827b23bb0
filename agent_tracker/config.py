"""Settings: where the database and journal live and how large the database may grow.

Sources, highest first: command-line flag, environment variable, TOML config file, default.
The config file is `~/.config/opencode/agent-tracker.toml`, or the file named by
`AGENT_TRACKER_CONFIG`. It is read with `tomllib` and written atomically with `tomli-w`,
after validation, so a bad value never reaches the disk.

This module is on the capture hot path: it imports only the standard library, and `tomllib`
only when a config file exists.
"""

from __future__ import annotations

import os

from agent_tracker import paths
from agent_tracker.errors import ConfigError, FormatError

TYPE_CHECKING = False  # avoids importing typing on the capture hot path
if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path
    from typing import Any

CONFIG_FORMAT = 1
MIB = 1024 * 1024
GIB = 1024 * MIB
DEFAULT_MAX_SIZE = 512 * MIB
MIN_MAX_SIZE = 1 * MIB
MAX_MAX_SIZE = 2 * GIB
#: How long after a session's last activity a commit without other evidence is its (seconds).
DEFAULT_WINDOW = 2 * 3600
MIN_WINDOW = 60
MAX_WINDOW = 7 * 86400
_DURATION_UNITS = {"": 1, "s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}

ENV_CONFIG = "AGENT_TRACKER_CONFIG"
#: Environment variable for each setting.
ENV_VARS = {
    "database_path": "AGENT_TRACKER_DATABASE_PATH",
    "max_database_size": "AGENT_TRACKER_MAX_DATABASE_SIZE",
    "journal_dir": "AGENT_TRACKER_JOURNAL_DIR",
    "attribution_window": "AGENT_TRACKER_ATTRIBUTION_WINDOW",
}
KEYS = tuple(ENV_VARS)
_UNITS = {
    "": 1,
    "b": 1,
    "k": 1024,
    "kb": 1000,
    "kib": 1024,
    "m": MIB,
    "mb": 1000**2,
    "mib": MIB,
    "g": GIB,
    "gb": 1000**3,
    "gib": GIB,
}


class Settings:
    """The effective settings and where each value came from (flag, env, file, default).

    Paths are kept as strings (the capture hot path never imports pathlib) and offered as
    `Path` objects through properties for everything else.
    """

    __slots__ = (
        "attribution_window",
        "config_file",
        "database_file",
        "journal_folder",
        "max_database_size",
        "sources",
    )

    def __init__(
        self,
        config_file: str,
        database_file: str,
        max_database_size: int,
        journal_folder: str,
        sources: dict[str, str],
        attribution_window: int = DEFAULT_WINDOW,
    ) -> None:
        self.config_file = config_file
        self.database_file = database_file
        self.max_database_size = max_database_size
        self.journal_folder = journal_folder
        self.sources = sources
        self.attribution_window = attribution_window

    @property
    def config_path(self) -> Path:
        return paths.as_path(self.config_file)

    @property
    def database_path(self) -> Path:
        return paths.as_path(self.database_file)

    @property
    def journal_dir(self) -> Path:
        return paths.as_path(self.journal_folder)

    def value(self, key: str) -> str | int:
        if key not in KEYS:
            raise ConfigError(f"unknown setting {key!r}; known: {', '.join(KEYS)}")
        if key == "max_database_size":
            return self.max_database_size
        if key == "attribution_window":
            return self.attribution_window
        return {"database_path": self.database_file, "journal_dir": self.journal_folder}[key]


def parse_size(value: object) -> int:
    """Bytes from an int or a string such as `536870912`, `512MiB` or `1 GiB`."""
    if isinstance(value, bool):
        raise ConfigError(f"max_database_size must be a number of bytes, got {value!r}")
    if isinstance(value, int):
        return value
    text = str(value).strip().lower().replace(" ", "").replace("_", "")
    digits = text.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = text[len(digits) :]
    if not digits or unit not in _UNITS:
        raise ConfigError(
            f"max_database_size must be a number of bytes (e.g. 536870912 or 512MiB), got {value!r}"
        )
    try:
        return int(float(digits) * _UNITS[unit])
    except ValueError:
        raise ConfigError(f"max_database_size: cannot read {value!r} as a size") from None


def check_size(size: int, given: object = None) -> int:
    if not MIN_MAX_SIZE <= size <= MAX_MAX_SIZE:
        shown = f"{given} ({size} bytes)" if given is not None and str(given) != str(size) else size
        raise ConfigError(
            f"max_database_size {shown} is out of range: it must lie in "
            f"{MIN_MAX_SIZE}..{MAX_MAX_SIZE} bytes (1 MiB..2 GiB)"
        )
    return size


def parse_window(value: object) -> int:
    """Seconds from an int or a duration such as `7200`, `90m`, `2h` or `1d`, checked
    against MIN_WINDOW..MAX_WINDOW."""
    seconds: float | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        seconds = value
    elif isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        digits = text.rstrip("abcdefghijklmnopqrstuvwxyz")
        unit = text[len(digits) :]
        if digits and unit in _DURATION_UNITS:
            try:
                seconds = float(digits) * _DURATION_UNITS[unit]
            except ValueError:
                seconds = None
    if seconds is None:
        raise ConfigError(
            f"attribution_window must be a duration (e.g. 7200, 90m, 2h), got {value!r}"
        )
    if not MIN_WINDOW <= seconds <= MAX_WINDOW:
        raise ConfigError(
            f"attribution_window {value} is out of range: it must lie in "
            f"{MIN_WINDOW}..{MAX_WINDOW} seconds (1 minute..7 days)"
        )
    return int(seconds)


def config_path(flag: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    chosen = flag or env.get(ENV_CONFIG)
    return paths.resolve_user_path(chosen) if chosen else paths.default_config_path()


def read_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The settings table of a config file; {} when it does not exist."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    import tomllib

    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    fmt = data.get("format", CONFIG_FORMAT)
    if not isinstance(fmt, int) or fmt > CONFIG_FORMAT:
        raise FormatError(
            f"config file {path} has format {fmt!r}; this agent-tracker understands format "
            f"{CONFIG_FORMAT} or older: upgrade agent-tracker"
        )
    unknown = sorted(set(data) - set(KEYS) - {"format"})
    if unknown:
        raise ConfigError(
            f"config file {path}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(KEYS)}"
        )
    return data


def load(
    *,
    config_flag: str | None = None,
    flags: dict[str, str | int | None] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve every setting from flags, environment, config file and defaults."""
    env = os.environ if environ is None else environ
    cfg_path = config_path(config_flag, env)
    file_values = read_file(cfg_path)
    given = flags or {}
    raw: dict[str, object] = {}
    sources: dict[str, str] = {}
    for key in KEYS:
        flag_value = given.get(key)
        if flag_value is not None:
            raw[key], sources[key] = flag_value, "flag"
        elif env.get(ENV_VARS[key]):
            raw[key], sources[key] = env[ENV_VARS[key]], "env"
        elif key in file_values:
            raw[key], sources[key] = file_values[key], "file"
        else:
            sources[key] = "default"
    return _build(cfg_path, raw, sources)


def _build(cfg_path: str, raw: dict[str, object], sources: dict[str, str]) -> Settings:
    db_raw = raw.get("database_path")
    if db_raw is not None and (not isinstance(db_raw, str) or not db_raw.strip()):
        raise ConfigError(f"database_path must be a non-empty path, got {db_raw!r}")
    database_path = (
        paths.resolve_user_path(db_raw)
        if isinstance(db_raw, str)
        else paths.default_database_path()
    )
    raw_size = raw.get("max_database_size", DEFAULT_MAX_SIZE)
    size = check_size(parse_size(raw_size), raw_size)
    journal_raw = raw.get("journal_dir")
    if journal_raw is not None and (not isinstance(journal_raw, str) or not journal_raw.strip()):
        raise ConfigError(f"journal_dir must be a non-empty path, got {journal_raw!r}")
    journal_dir = (
        paths.resolve_user_path(journal_raw)
        if isinstance(journal_raw, str)
        # The tracker's own folder, whichever database is configured: events captured before
        # a change of database_path are still flushed (into the new database).
        else paths.journal_dir_for(paths.default_database_path())
    )
    window = parse_window(raw.get("attribution_window", DEFAULT_WINDOW))
    return Settings(cfg_path, database_path, size, journal_dir, sources, window)


def normalise(key: str, value: str) -> str | int:
    """Validate one value as `config set` would store it; raises ConfigError."""
    if key not in KEYS:
        raise ConfigError(f"unknown setting {key!r}; known: {', '.join(KEYS)}")
    if key == "max_database_size":
        return check_size(parse_size(value), value)
    if key == "attribution_window":
        parse_window(value)
        return value.strip()
    if not value.strip():
        raise ConfigError(f"{key} must be a non-empty path")
    paths.resolve_user_path(value)  # refuses what it cannot resolve, such as ~user/...
    return value


def set_value(cfg_path: str | os.PathLike[str], key: str, value: str) -> str | int:
    """Validate the value, then write the config file atomically (temp file + os.replace).

    Only the value being set is checked, so that one bad value can be repaired at a time.
    """
    stored = normalise(key, value)
    data = read_file(cfg_path)
    data[key] = stored
    data["format"] = CONFIG_FORMAT
    target = os.fspath(cfg_path)
    import tomli_w

    text = tomli_w.dumps(dict(sorted(data.items())))
    folder, name = os.path.split(target)
    paths.make_private_dir(folder)
    tmp = os.path.join(folder, f".{name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, text.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, target)
    return stored

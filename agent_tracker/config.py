"""Settings: where the database and journal live and how large the database may grow.

Sources, highest first: command-line flag, environment variable, TOML config file, default.
The config file is `~/.config/opencode/agent-tracker.toml`, or the file named by
`AGENT_TRACKER_CONFIG`. It is read with `tomllib` and written atomically with `tomli-w`,
after validation, so a bad value never reaches the disk.

An invalid setting never stops capture (issue 9, item 8): `load(fallback=True)`, used by
`track`, `commit`, `grade` and `hook`, takes the next valid source for each setting (else
the default), salvages what it can of a broken config file, and puts what it ignored into
`Settings.notice` for the caller to print as one line. Every other command loads strictly,
but a bad value fails only the commands that use it: reading that setting raises its
ConfigError. `config set` repairs a broken file, keeping what it can parse (`salvage`).

This module is on the capture hot path: it imports only the standard library, and `tomllib`
only when a config file exists.
"""

from __future__ import annotations

import os

from agent_tracker import paths
from agent_tracker.errors import ConfigError, FormatError, printable

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
    "team_database_url": "AGENT_TRACKER_TEAM_DATABASE_URL",
    "team_member": "AGENT_TRACKER_TEAM_MEMBER",
    "share_project_names": "AGENT_TRACKER_SHARE_PROJECT_NAMES",
}
KEYS = tuple(ENV_VARS)
#: The settings of the team pool (issue 12): not paths, not needed by capture.
TEAM_KEYS = ("team_database_url", "team_member", "share_project_names")
_TEAM_SCHEMES = ("postgresql://", "postgres://")
_MAX_MEMBER = 100
_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")
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
    `Path` objects through properties for everything else. A setting whose value is invalid
    raises its ConfigError when read, so only the commands that need it fail.
    """

    __slots__ = ("_values", "config_file", "errors", "notice", "sources")

    def __init__(
        self,
        config_file: str,
        database_file: str,
        max_database_size: int,
        journal_folder: str,
        sources: dict[str, str],
        attribution_window: int = DEFAULT_WINDOW,
        errors: dict[str, ConfigError] | None = None,
        notice: str | None = None,
        team: dict[str, str | int] | None = None,
    ) -> None:
        self.config_file = config_file
        self._values: dict[str, str | int] = {
            "database_path": database_file,
            "max_database_size": max_database_size,
            "journal_dir": journal_folder,
            "attribution_window": attribution_window,
            "team_database_url": "",
            "team_member": "",
            "share_project_names": False,
            **(team or {}),
        }
        self.sources = sources
        #: Settings whose configured value is invalid: reading them raises.
        self.errors = errors or {}
        #: What a fallback load ignored, as one sentence (None when nothing was).
        self.notice = notice

    def _get(self, key: str) -> str | int:
        error = self.errors.get(key)
        if error is not None:
            raise error
        return self._values[key]

    @property
    def database_file(self) -> str:
        return str(self._get("database_path"))

    @property
    def max_database_size(self) -> int:
        return int(self._get("max_database_size"))

    @property
    def journal_folder(self) -> str:
        return str(self._get("journal_dir"))

    @property
    def attribution_window(self) -> int:
        return int(self._get("attribution_window"))

    @property
    def team_database_url(self) -> str | None:
        """The team server's URL (never with a password), None when no pool is configured."""
        return str(self._get("team_database_url")) or None

    @property
    def team_member(self) -> str | None:
        """The configured member name; None means the default (see `team.sync.member_name`)."""
        return str(self._get("team_member")) or None

    @property
    def share_project_names(self) -> bool:
        return bool(self._get("share_project_names"))

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
        return self._get(key)


def parse_size(value: object) -> int:
    """Bytes from an int or a string such as `536870912`, `512MiB` or `1 GiB`."""
    if isinstance(value, bool):
        raise ConfigError(f"max_database_size must be a number of bytes, got {value!r}")
    if isinstance(value, int):
        return value
    text = str(value).strip().lower().replace(" ", "").replace("_", "")
    digits = text.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = text[len(digits) :]
    if not digits or not digits.isascii() or unit not in _UNITS:  # fullwidth digits are no size
        raise ConfigError(
            f"max_database_size must be a number of bytes (e.g. 536870912 or 512MiB), got {value!r}"
        )
    try:
        return int(float(digits) * _UNITS[unit])
    except ValueError:
        raise ConfigError(f"max_database_size: cannot read {value!r} as a size") from None
    except OverflowError:  # 1e999: infinite as a float
        raise ConfigError(
            f"max_database_size {value!r} is out of range: it must lie in "
            f"{MIN_MAX_SIZE}..{MAX_MAX_SIZE} bytes (1 MiB..2 GiB)"
        ) from None


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
        if digits and digits.isascii() and unit in _DURATION_UNITS:
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


def check_team_url(value: object) -> str:
    """A `postgresql://` URL without a password; raises ConfigError. libpq reads the
    password from ~/.pgpass or PGPASSWORD, so that none is ever stored in our files."""
    if not isinstance(value, str):
        raise ConfigError(f"team_database_url must be a postgresql:// URL, got {value!r}")
    text = value.strip()
    if not text:
        return ""  # no pool
    if not text.lower().startswith(_TEAM_SCHEMES) or any(c.isspace() for c in text):
        raise ConfigError(
            f"team_database_url must be a postgresql:// URL "
            f"(e.g. postgresql://me@db.example.com/agents), got {printable(text)!r}"
        )
    from urllib.parse import parse_qs, urlsplit

    try:
        parts = urlsplit(text)
        has_password = parts.password is not None or "password" in parse_qs(parts.query)
    except ValueError as exc:
        raise ConfigError(f"team_database_url: cannot read it as a URL ({exc})") from None
    if has_password:
        raise ConfigError(
            "team_database_url must not contain a password: no password is ever written into "
            "agent-tracker's own files; put it in ~/.pgpass or PGPASSWORD instead"
        )
    return text


def check_member(value: object) -> str:
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > _MAX_MEMBER:
        raise ConfigError(f"team_member must be a name of 1..{_MAX_MEMBER} characters")
    text = value.strip()
    if printable(text) != text:
        raise ConfigError(f"team_member {printable(text)!r} contains control characters")
    return text


def parse_bool(key: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise ConfigError(f"{key} must be true or false, got {value!r}")


def config_path(flag: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    chosen = flag or env.get(ENV_CONFIG)
    return paths.resolve_user_path(chosen) if chosen else paths.default_config_path()


def _read_bytes(path: str | os.PathLike[str]) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None


def read_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The settings table of a config file; {} when it does not exist."""
    raw = _read_bytes(path)
    if raw is None:
        return {}
    import tomllib

    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"config file {path} is not valid TOML ({exc}); repair it with "
            "`agent-tracker config set KEY VALUE`"
        ) from None
    _check_format(path, data)
    unknown = sorted(set(data) - set(KEYS) - {"format"})
    if unknown:
        raise ConfigError(
            f"config file {path}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(KEYS)}"
        )
    return data


def _check_format(path: str | os.PathLike[str], data: dict[str, Any]) -> None:
    fmt = data.get("format", CONFIG_FORMAT)
    if not isinstance(fmt, int) or isinstance(fmt, bool) or fmt > CONFIG_FORMAT:
        raise FormatError(
            f"config file {path} has format {fmt!r}; this agent-tracker understands format "
            f"{CONFIG_FORMAT} or older: upgrade agent-tracker"
        )


def salvage(raw: bytes) -> tuple[dict[str, Any], list[str]]:
    """The known settings that can be read from a config file's bytes, and what was dropped.

    A file that parses is taken whole (unknown keys dropped); otherwise each line is read on
    its own, so one broken line costs only itself. The dropped parts are described briefly
    (line numbers, never the lines: they may hold anything). Never raises.
    """
    import tomllib

    dropped: list[str] = []
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("utf-8", "replace")
        dropped.append("bytes that are not UTF-8 (replaced)")
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        data = {}
        bad_lines = []
        for number, line in enumerate(text.splitlines(), 1):
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            try:
                part = tomllib.loads(line)
            except tomllib.TOMLDecodeError:
                bad_lines.append(number)
                continue
            if not part or set(part) & set(data):  # a table header, or a repeated key
                bad_lines.append(number)
                continue
            data.update(part)
        if bad_lines:
            shown = ", ".join(map(str, bad_lines[:10])) + (", ..." if len(bad_lines) > 10 else "")
            dropped.append(f"unreadable line(s) {shown}")
    unknown = sorted(set(data) - set(KEYS) - {"format"})
    if unknown:
        dropped.append(f"unknown setting(s) {', '.join(printable(k) for k in unknown)}")
    return {key: data[key] for key in KEYS if key in data}, dropped


def _read_for_capture(path: str) -> tuple[dict[str, Any], str | None]:
    """The config file's settings for a fallback load: never raises; says what it ignored."""
    try:
        raw = _read_bytes(path)
    except ConfigError as exc:
        return {}, str(exc)
    if raw is None:
        return {}, None
    import tomllib

    try:
        data = tomllib.loads(raw.decode("utf-8"))
        _check_format(path, data)
    except FormatError as exc:
        return salvage(raw)[0], f"{exc}; using the settings this version knows"
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        values, dropped = salvage(raw)
        return values, f"config file {path} is broken: ignored {'; '.join(dropped)}"
    values, dropped = salvage(raw)
    return values, f"config file {path}: ignored {'; '.join(dropped)}" if dropped else None


def _parse(key: str, raw: object) -> str | int:
    """The value of setting `key` from its configured form; raises ConfigError."""
    if key == "max_database_size":
        return check_size(parse_size(raw), raw)
    if key == "attribution_window":
        return parse_window(raw)
    if key == "team_database_url":
        return check_team_url(raw)
    if key == "team_member":
        return check_member(raw)
    if key == "share_project_names":
        return parse_bool(key, raw)
    if not isinstance(raw, str) or not raw.strip():
        raise ConfigError(f"{key} must be a non-empty path, got {raw!r}")
    return paths.resolve_user_path(raw)


def _default(key: str) -> str | int:
    if key == "database_path":
        return paths.default_database_path()
    if key == "journal_dir":
        # The tracker's own folder, whichever database is configured: events captured before
        # a change of database_path are still flushed (into the new database).
        return paths.journal_dir_for(paths.default_database_path())
    if key in TEAM_KEYS:
        return False if key == "share_project_names" else ""
    return DEFAULT_MAX_SIZE if key == "max_database_size" else DEFAULT_WINDOW


_WHERE = {"flag": "its flag", "env": "the environment", "file": "the config file"}


def load(
    *,
    config_flag: str | None = None,
    flags: dict[str, str | int | None] | None = None,
    environ: Mapping[str, str] | None = None,
    fallback: bool = False,
) -> Settings:
    """Resolve every setting from flags, environment, config file and defaults.

    Strict (the default): a broken config file raises; an invalid value is kept as an error
    that reading the setting raises. With `fallback` (capture), nothing raises: each setting
    takes its next valid source, else the default, and `notice` says what was ignored.
    """
    env = os.environ if environ is None else environ
    problems: list[str] = []
    try:
        cfg_path = config_path(config_flag, env)
    except ConfigError as exc:
        if not fallback:
            raise
        problems.append(str(exc))
        cfg_path = paths.default_config_path()
    if fallback:
        file_values, problem = _read_for_capture(cfg_path)
        if problem:
            problems.append(problem)
    else:
        file_values = read_file(cfg_path)
    given = flags or {}
    values: dict[str, str | int] = {}
    sources: dict[str, str] = {}
    errors: dict[str, ConfigError] = {}
    for key in KEYS:
        candidates: list[tuple[str, object]] = []
        if given.get(key) is not None:
            candidates.append(("flag", given[key]))
        if env.get(ENV_VARS[key]):
            candidates.append(("env", env[ENV_VARS[key]]))
        if key in file_values:
            candidates.append(("file", file_values[key]))
        sources[key] = "default"
        for source, raw in candidates:
            try:
                values[key] = _parse(key, raw)
            except ConfigError as exc:
                if source == "flag" and not fallback:
                    raise  # typed for this very command: refused at once
                if not fallback:
                    errors[key], sources[key] = exc, source
                    break
                where = f"{_WHERE[source]} {cfg_path}" if source == "file" else _WHERE[source]
                problems.append(f"{exc} (from {where})")
                continue
            sources[key] = source
            break
        if key not in values:
            values[key] = _default(key)
    notice = None
    if problems:
        fix = (
            "`agent-tracker config set KEY VALUE` repairs the file"
            if any(p.endswith(f"{cfg_path})") for p in problems)
            else "correct or unset the environment variable"
        )
        notice = (
            f"ignored invalid settings: {'; '.join(problems)}. Using the defaults instead; {fix}"
        )
    return Settings(
        cfg_path,
        str(values["database_path"]),
        int(values["max_database_size"]),
        str(values["journal_dir"]),
        sources,
        int(values["attribution_window"]),
        errors,
        notice,
        {key: values[key] for key in TEAM_KEYS},
    )


def normalise(key: str, value: str) -> str | int:
    """Validate one value as `config set` would store it; raises ConfigError."""
    if key not in KEYS:
        raise ConfigError(f"unknown setting {key!r}; known: {', '.join(KEYS)}")
    if key in TEAM_KEYS:
        return _parse(key, value)  # a URL, a name or a bool: stored as TOML's own types
    if key == "max_database_size":
        return check_size(parse_size(value), value)
    if key == "attribution_window":
        parse_window(value)
        return value.strip()
    if not value.strip():
        raise ConfigError(f"{key} must be a non-empty path")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError(
            f"{key} {value!r} is not valid UTF-8 and cannot be written to the config file; "
            f"set ${ENV_VARS[key]} instead"
        ) from None
    resolved = paths.resolve_user_path(value)  # refuses what it cannot resolve (~user/...)
    if key == "journal_dir" and os.path.exists(resolved) and not os.path.isdir(resolved):
        raise ConfigError(f"journal_dir {value!r} is not a folder")
    return value


def set_value(
    cfg_path: str | os.PathLike[str], key: str, value: str
) -> tuple[str | int, list[str]]:
    """Validate the value, then write the config file atomically; returns the value stored
    and what of a broken file had to be dropped (empty when it was sound).

    Only the value being set is checked, so that one bad value can be repaired at a time;
    a file that is not valid TOML, or has unknown keys, is rewritten with what could be read
    of it (`salvage`). A file of a newer format is refused, never downgraded.
    """
    stored = normalise(key, value)
    raw = _read_bytes(cfg_path)
    dropped: list[str] = []
    data: dict[str, Any] = {}
    if raw is not None:
        import tomllib
        from contextlib import suppress

        with suppress(tomllib.TOMLDecodeError, UnicodeDecodeError):  # broken: salvaged below
            _check_format(cfg_path, tomllib.loads(raw.decode("utf-8")))
        data, dropped = salvage(raw)
    data[key] = stored
    data["format"] = CONFIG_FORMAT
    import tomli_w

    from agent_tracker import fsio

    text = tomli_w.dumps(dict(sorted(data.items())))
    folder = os.path.dirname(os.fspath(cfg_path))
    paths.make_private_dir(folder or ".")
    fsio.atomic_write(cfg_path, text.encode("utf-8"))
    return stored, dropped

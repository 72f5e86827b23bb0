from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from agent_tracker import config, paths
from agent_tracker.errors import ConfigError, FormatError


def test_default_database_is_under_home_config_opencode(home: Path) -> None:
    settings = config.load()
    assert settings.database_path == home / ".config" / "opencode" / "agent-tracker.lmdb"
    assert "~" not in str(settings.database_path)
    assert settings.journal_dir == home / ".config" / "opencode" / "agent-tracker.journal"
    assert settings.sources["database_path"] == "default"


def test_absolute_path_is_used_as_is(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "db.lmdb"
    settings = config.load(flags={"database_path": str(target)})
    assert settings.database_path == target
    # The journal stays in the tracker's own folder: events captured before a change of
    # database are not stranded.
    assert settings.journal_dir == Path(paths.journal_dir_for(paths.default_database_path()))


def test_tilde_path_is_expanded_against_home(home: Path) -> None:
    settings = config.load(flags={"database_path": "~/data/t.lmdb"})
    assert settings.database_path == home / "data" / "t.lmdb"


def test_relative_path_resolves_against_home_not_working_folder(home: Path) -> None:
    settings = config.load(flags={"database_path": "stats/t.lmdb"})
    assert settings.database_path == home / "stats" / "t.lmdb"
    assert not Path("stats").exists()


def test_map_size_defaults_to_512_mib() -> None:
    assert config.load().max_database_size == 536870912


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1048576, 1048576),
        (2147483648, 2147483648),
        ("1MiB", 1048576),
        ("2GiB", 2147483648),
        ("512 MiB", 536870912),
        ("1.5GiB", 1610612736),
        ("3000000", 3000000),
        ("4mb", 4000000),
    ],
)
def test_sizes_in_range_are_accepted_in_bytes_or_with_units(
    value: int | str, expected: int
) -> None:
    size = config.load(flags={"max_database_size": value}).max_database_size
    assert size == expected


@pytest.mark.parametrize("value", [1048575, 2147483649, 0, -5])
def test_sizes_outside_the_range_are_rejected_naming_value_and_range(value: int) -> None:
    with pytest.raises(ConfigError) as err:
        _ = config.load(flags={"max_database_size": value}).max_database_size
    assert str(value) in str(err.value)
    assert "1048576..2147483648" in str(err.value)


def test_out_of_range_error_shows_what_was_typed() -> None:
    with pytest.raises(ConfigError, match=r"3GiB \(3221225472 bytes\) is out of range"):
        _ = config.load(flags={"max_database_size": "3GiB"}).max_database_size


def test_tilde_user_paths_are_refused_rather_than_creating_a_tilde_folder() -> None:
    with pytest.raises(ConfigError, match="only ~/"):
        _ = config.load(flags={"database_path": "~root/db.lmdb"}).database_file


def test_size_that_is_not_a_number_is_rejected() -> None:
    with pytest.raises(ConfigError, match="number of bytes"):
        _ = config.load(flags={"max_database_size": "lots"}).max_database_size


def write_config(home: Path, text: str) -> Path:
    path = home / ".config" / "opencode" / "agent-tracker.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_precedence_is_flag_then_env_then_file_then_default(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(home, 'database_path = "/from/file"\nmax_database_size = 2097152\n')
    from_file = config.load()
    assert from_file.database_path == Path("/from/file")
    assert from_file.max_database_size == 2097152
    assert from_file.sources == {
        "database_path": "file",
        "max_database_size": "file",
        "journal_dir": "default",
        "attribution_window": "default",
        "team_database_url": "default",
        "team_member": "default",
        "share_project_names": "default",
    }

    monkeypatch.setenv("AGENT_TRACKER_DATABASE_PATH", "/from/env")
    monkeypatch.setenv("AGENT_TRACKER_MAX_DATABASE_SIZE", "3MiB")
    from_env = config.load()
    assert from_env.database_path == Path("/from/env")
    assert from_env.max_database_size == 3 * 1048576

    from_flag = config.load(flags={"database_path": "/from/flag", "max_database_size": "4MiB"})
    assert from_flag.database_path == Path("/from/flag")
    assert from_flag.max_database_size == 4 * 1048576
    assert from_flag.sources["database_path"] == "flag"


def test_config_file_location_can_be_overridden_by_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    custom = tmp_path / "custom.toml"
    custom.write_text('database_path = "/custom"\n')
    monkeypatch.setenv("AGENT_TRACKER_CONFIG", str(custom))
    assert config.load().database_path == Path("/custom")
    assert config.load().config_path == custom


def test_invalid_value_in_file_is_reported_with_the_value(home: Path) -> None:
    write_config(home, "max_database_size = 5\n")
    settings = config.load()  # the commands that do not use the size still work
    assert settings.database_file == paths.default_database_path()
    with pytest.raises(ConfigError, match="max_database_size 5 is out of range"):
        _ = settings.max_database_size


def test_unknown_setting_and_bad_toml_are_clear_errors(home: Path) -> None:
    write_config(home, "colour = 1\n")
    with pytest.raises(ConfigError, match="unknown setting"):
        config.load()
    write_config(home, "this is = = not toml\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        config.load()


def test_newer_config_format_is_refused(home: Path) -> None:
    write_config(home, "format = 99\n")
    with pytest.raises(FormatError, match="format 99"):
        config.load()


def test_set_value_validates_before_writing(home: Path) -> None:
    path = Path(paths.default_config_path())
    with pytest.raises(ConfigError):
        config.set_value(path, "max_database_size", "1048575")
    assert not path.exists()
    config.set_value(path, "max_database_size", "1GiB")
    config.set_value(path, "database_path", "tracker/db.lmdb")
    data = tomllib.loads(path.read_text())
    assert data == {
        "format": 1,
        "max_database_size": 1073741824,
        "database_path": "tracker/db.lmdb",
    }
    assert (path.stat().st_mode & 0o777) == 0o600
    assert config.load().database_path == home / "tracker" / "db.lmdb"
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_private_folders_are_created_mode_0700(home: Path) -> None:
    target = home / "a" / "b" / "c"
    paths.make_private_dir(target)
    for folder in (home / "a", home / "a" / "b", target):
        assert (folder.stat().st_mode & 0o777) == 0o700
    assert target.is_dir()


@pytest.mark.parametrize(
    ("text", "seconds"), [("7200", 7200), ("90m", 5400), ("2h", 7200), ("1d", 86400), ("60s", 60)]
)
def test_attribution_window_reads_durations(
    monkeypatch: pytest.MonkeyPatch, text: str, seconds: int
) -> None:
    monkeypatch.setenv("AGENT_TRACKER_ATTRIBUTION_WINDOW", text)
    assert config.load().attribution_window == seconds


@pytest.mark.parametrize("text", ["10s", "8d", "soon", "2 weeks"])
def test_attribution_window_out_of_range_or_unreadable_is_refused(
    monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    monkeypatch.setenv("AGENT_TRACKER_ATTRIBUTION_WINDOW", text)
    with pytest.raises(ConfigError, match="attribution_window"):
        _ = config.load().attribution_window


# -- issue 9, item 8: an invalid setting never stops capture --------------------------------


def test_fallback_load_uses_the_default_for_an_invalid_file_value_and_says_so(
    home: Path,
) -> None:
    path = write_config(home, 'max_database_size = "big"\njournal_dir = "~/j"\n')
    settings = config.load(fallback=True)
    assert settings.max_database_size == config.DEFAULT_MAX_SIZE
    assert settings.journal_folder == str(home / "j")  # the valid setting is kept
    assert settings.notice is not None
    assert "'big'" in settings.notice
    assert str(path) in settings.notice
    assert "config set" in settings.notice  # the file is what to repair
    assert "\n" not in settings.notice


def test_fallback_load_takes_the_next_valid_source(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(home, "max_database_size = 2097152\n")
    monkeypatch.setenv("AGENT_TRACKER_MAX_DATABASE_SIZE", "lots")
    settings = config.load(fallback=True)
    assert settings.max_database_size == 2097152
    assert settings.sources["max_database_size"] == "file"
    assert settings.notice is not None
    assert "environment" in settings.notice
    assert "config set" not in settings.notice  # the file is fine: the variable is not


def test_fallback_load_salvages_a_broken_file(home: Path) -> None:
    write_config(home, 'journal_dir = "~/kept"\nthis is = = not toml\ncolour = 1\n')
    settings = config.load(fallback=True)
    assert settings.journal_folder == str(home / "kept")
    assert settings.notice is not None
    assert "line(s) 2" in settings.notice
    assert "colour" in settings.notice


def test_fallback_load_reads_the_known_settings_of_a_newer_format(home: Path) -> None:
    write_config(home, 'format = 99\njournal_dir = "~/kept"\n')
    settings = config.load(fallback=True)
    assert settings.journal_folder == str(home / "kept")
    assert settings.notice is not None
    assert "format 99" in settings.notice


def test_fallback_load_survives_an_unusable_config_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_TRACKER_CONFIG", "~nobody/x.toml")
    settings = config.load(fallback=True)
    assert settings.config_file == paths.default_config_path()
    assert settings.notice is not None
    assert "~user" in settings.notice
    with pytest.raises(ConfigError):
        config.load()


def test_fallback_load_says_nothing_when_all_is_well(home: Path) -> None:
    write_config(home, "max_database_size = 2097152\n")
    assert config.load(fallback=True).notice is None


def test_strict_load_fails_only_on_reading_the_invalid_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AGENT_TRACKER_ATTRIBUTION_WINDOW", "soon")
    settings = config.load()
    assert settings.database_file == paths.default_database_path()
    assert "attribution_window" in settings.errors
    with pytest.raises(ConfigError, match="attribution_window"):
        settings.value("attribution_window")


# -- issue 9, item 17: overflow ------------------------------------------------------------


@pytest.mark.parametrize("text", ["1e999", "1e400KiB", "9" * 400])
def test_an_infinite_size_is_out_of_range_not_an_overflow(text: str) -> None:
    with pytest.raises(ConfigError, match="out of range"):
        config.parse_size(text)


def test_an_infinite_window_is_out_of_range() -> None:
    with pytest.raises(ConfigError, match="out of range"):
        config.parse_window("1e999d")


# -- issue 9, item 22: `config set` repairs a broken file ----------------------------------


def test_set_value_repairs_a_file_that_is_not_toml_keeping_what_it_can(home: Path) -> None:
    path = write_config(
        home, 'journal_dir = "~/kept"\nmax_database_size = = 5\n[oops\ncolour = "blue"\n'
    )
    stored, dropped = config.set_value(path, "max_database_size", "1GiB")
    assert stored == 1073741824
    assert tomllib.loads(path.read_text()) == {
        "format": 1,
        "journal_dir": "~/kept",
        "max_database_size": 1073741824,
    }
    assert dropped == ["unreadable line(s) 2, 3", "unknown setting(s) colour"]
    assert config.load().journal_folder == str(home / "kept")


def test_set_value_repairs_a_file_that_is_not_utf8(home: Path) -> None:
    path = write_config(home, "")
    path.write_bytes(b'journal_dir = "~/kept"\n\xff\xfe = 1\n')
    _, dropped = config.set_value(path, "attribution_window", "1h")
    assert "bytes that are not UTF-8 (replaced)" in dropped
    assert tomllib.loads(path.read_text())["journal_dir"] == "~/kept"
    assert (path.stat().st_mode & 0o777) == 0o600


def test_set_value_of_a_sound_file_drops_nothing(home: Path) -> None:
    path = write_config(home, 'journal_dir = "~/kept"\n')
    assert config.set_value(path, "attribution_window", "2h") == ("2h", [])


def test_set_value_never_downgrades_a_newer_file(home: Path) -> None:
    path = write_config(home, "format = 99\n")
    with pytest.raises(FormatError):
        config.set_value(path, "attribution_window", "2h")
    assert path.read_text() == "format = 99\n"


def test_set_value_refuses_a_path_toml_cannot_hold(home: Path) -> None:
    with pytest.raises(ConfigError, match="AGENT_TRACKER_JOURNAL_DIR"):
        config.set_value(paths.default_config_path(), "journal_dir", "/tmp/\udcff")


@pytest.mark.parametrize(
    ("parse", "text"),
    [
        (config.parse_size, "\uff15MiB"),
        (config.parse_window, "\uff19\uff10m"),
    ],
)
def test_sizes_and_durations_take_ascii_digits_only(parse: Any, text: str) -> None:
    with pytest.raises(config.ConfigError):
        parse(text)


def test_the_lock_wait_takes_ascii_digits_only() -> None:
    from agent_tracker import writelock
    from agent_tracker.errors import UsageError

    with pytest.raises(UsageError):
        writelock.parse_wait("\uff15")
    assert writelock.parse_wait("5") == 5.0


def test_a_team_url_with_a_password_is_refused_and_points_to_pgpass() -> None:
    with pytest.raises(ConfigError, match=r"no password is ever written.*pgpass"):
        config.normalise("team_database_url", "postgresql://me:secret@db.example.com/agents")
    with pytest.raises(ConfigError, match="password"):
        config.normalise("team_database_url", "postgresql://db/agents?password=secret")


def test_a_team_url_must_be_postgresql() -> None:
    with pytest.raises(ConfigError, match="postgresql://"):
        config.normalise("team_database_url", "mysql://db/agents")
    assert config.normalise("team_database_url", "postgres://me@db/agents?sslmode=require")


def test_team_settings_come_from_file_and_env(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(home, 'team_member = "Ada"\nshare_project_names = true\n')
    loaded = config.load()
    assert loaded.team_database_url is None
    assert loaded.team_member == "Ada"
    assert loaded.share_project_names is True
    monkeypatch.setenv("AGENT_TRACKER_TEAM_DATABASE_URL", "postgresql://ada@db/agents")
    monkeypatch.setenv("AGENT_TRACKER_SHARE_PROJECT_NAMES", "no")
    loaded = config.load()
    assert loaded.team_database_url == "postgresql://ada@db/agents"
    assert loaded.share_project_names is False


def test_a_password_in_the_environment_url_fails_only_the_team_commands(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AGENT_TRACKER_TEAM_DATABASE_URL", "postgresql://a:b@db/x")
    loaded = config.load()
    assert loaded.database_file  # the local database is unaffected
    with pytest.raises(ConfigError, match="pgpass"):
        _ = loaded.team_database_url

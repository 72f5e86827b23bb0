"""`agent-tracker integrate`: real settings files in the isolated home folder, through the CLI
in this process, in a separate process, and from a wheel installed into a fresh virtual
environment (not the checkout).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import Result, run_tracker

from agent_tracker import integrate
from agent_tracker.integrate import hooks_json, opencode

ROOT = Path(__file__).resolve().parent.parent
CLAUDE_EVENTS = [
    "SessionStart",
    "PostToolUse",
    "PostToolUseFailure",
    "InstructionsLoaded",
    "PostModelSwitch",
    "SubagentStop",
    "Stop",
    "SessionEnd",
]
CODEX_EVENTS = ["SessionStart", "PostToolUse", "Stop", "SessionEnd"]
#: A stand-in for the shipped plugin, with the placeholder where the real one has it.
PLUGIN_TEMPLATE = (
    "// stand-in for agent_tracker/integrations/opencode-plugin.js\n"
    "export const AgentTracker = async () => {\n"
    '  const TRACKER = "@AGENT_TRACKER_COMMAND@"\n'
    "  return { TRACKER }\n"
    "}\n"
)

Cli = Callable[..., Result]


@pytest.fixture(autouse=True)
def harness_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No harness variables from the machine; a `claude` on PATH that reports a version."""
    for name in ("CLAUDE_CONFIG_DIR", "CODEX_HOME", "XDG_CONFIG_HOME", "FAKE_CLAUDE_VERSION"):
        monkeypatch.delenv(name, raising=False)
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    claude = bin_dir / "claude"
    claude.write_text('#!/bin/sh\necho "${FAKE_CLAUDE_VERSION:-2.1.332} (Claude Code)"\n')
    claude.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(opencode, "template", lambda: PLUGIN_TEMPLATE)


def ours(harness: str) -> str:
    return integrate.hook_command(integrate.tracker_argv(), harness)


def claude_settings(home: Path) -> Path:
    return home / ".claude" / "settings.json"


def commands(data: dict[str, Any], event: str) -> list[str]:
    return [h["command"] for group in data["hooks"].get(event, []) for h in group["hooks"]]


def write(path: Path, text: str) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path.read_bytes()


PERSONAL = """{
    "model": "opus",
    "permissions": {"allow": ["Bash(npm test)"]},
    "hooks": {
        "PostToolUse": [
            {"matcher": "Bash", "hooks": [{"type": "command", "command": "notify-send done"}]}
        ],
        "Notification": [{"hooks": [{"type": "command", "command": "say hi"}]}]
    },
    "statusLine": {"type": "command", "command": "echo \\u00e9t\\u00e9"}
}"""


# -- Claude Code ---------------------------------------------------------------------------


def test_claude_code_without_settings_gets_a_file_with_every_hook(cli: Cli, home: Path) -> None:
    done = cli("integrate", "claude-code")

    assert done.code == 0, done.err
    data = json.loads(claude_settings(home).read_text())
    assert list(data["hooks"]) == CLAUDE_EVENTS
    for event in CLAUDE_EVENTS:
        (group,) = data["hooks"][event]
        assert group["hooks"] == [
            {"type": "command", "command": ours("claude-code"), "timeout": 10}
        ]
        tool_event = event.startswith("PostToolUse")
        assert group.get("matcher") == ("*" if tool_event else None)
    assert "8 hooks installed" in done.out
    assert not (home / ".claude" / "settings.json.agent-tracker.bak").exists()
    assert (home / ".claude").stat().st_mode & 0o777 == 0o700
    assert cli("integrate", "opencode").code == 0
    assert (home / ".config").stat().st_mode & 0o777 == 0o700


def test_existing_hooks_and_keys_are_kept_in_their_order(cli: Cli, home: Path) -> None:
    path = claude_settings(home)
    original = write(path, PERSONAL)

    assert cli("integrate", "claude-code").code == 0

    data = json.loads(path.read_text())
    before = json.loads(original)
    assert list(data) == list(before)  # hooks stays where it was
    assert data["model"] == "opus"
    assert data["permissions"] == before["permissions"]
    assert data["statusLine"] == before["statusLine"]
    assert data["hooks"]["Notification"] == before["hooks"]["Notification"]
    assert list(data["hooks"])[:2] == ["PostToolUse", "Notification"]
    assert commands(data, "PostToolUse") == ["notify-send done", ours("claude-code")]
    assert data["hooks"]["PostToolUse"][0] == before["hooks"]["PostToolUse"][0]
    assert "    " in path.read_text().splitlines()[1][:4]  # the file's own indent is kept
    backup = path.with_name("settings.json.agent-tracker.bak")
    assert backup.read_bytes() == original


def test_a_second_install_writes_nothing(cli: Cli, home: Path) -> None:
    path = claude_settings(home)
    write(path, PERSONAL)
    assert cli("integrate", "claude-code").code == 0
    first = path.read_bytes()
    stamp = path.stat().st_mtime_ns
    backup = path.with_name("settings.json.agent-tracker.bak").read_bytes()

    done = cli("integrate", "claude-code")

    assert done.code == 0
    assert "already installed; nothing written" in done.out
    assert path.read_bytes() == first
    assert path.stat().st_mtime_ns == stamp
    assert path.with_name("settings.json.agent-tracker.bak").read_bytes() == backup


def test_remove_puts_the_original_back_byte_for_byte(cli: Cli, home: Path) -> None:
    path = claude_settings(home)
    # Odd but valid: tabs, escaped non-ASCII, no final newline; none of it survives a
    # JSON round trip, all of it must come back.
    original = write(path, '{\n\t"model": "s\\u00f6nnet",\n\t"hooks": {}\n}')
    path.chmod(0o600)
    assert cli("integrate", "claude-code").code == 0
    assert path.read_bytes() != original
    assert path.stat().st_mode & 0o777 == 0o600  # the file's mode is kept

    done = cli("integrate", "claude-code", "--remove")

    assert done.code == 0, done.err
    assert "restored" in done.out
    assert path.read_bytes() == original
    assert not path.with_name("settings.json.agent-tracker.bak").exists()


def test_remove_deletes_the_file_when_there_was_none(cli: Cli, home: Path) -> None:
    assert cli("integrate", "claude-code").code == 0
    assert claude_settings(home).exists()

    done = cli("integrate", "claude-code", "--remove")

    assert done.code == 0
    assert "deleted" in done.out
    assert not claude_settings(home).exists()
    assert cli("integrate", "claude-code", "--remove").out.startswith(f"{claude_settings(home)}:")


def test_remove_keeps_what_the_person_changed_meanwhile(cli: Cli, home: Path) -> None:
    path = claude_settings(home)
    write(path, PERSONAL)
    assert cli("integrate", "claude-code").code == 0
    data = json.loads(path.read_text())
    data["theme"] = "dark"
    data["hooks"]["PostToolUse"][-1]["hooks"].append({"type": "command", "command": "lint"})
    path.write_text(json.dumps(data, indent=4))

    assert cli("integrate", "claude-code", "--remove").code == 0

    after = json.loads(path.read_text())
    assert after["theme"] == "dark"
    assert commands(after, "PostToolUse") == ["notify-send done", "lint"]
    assert not any("hook claude-code" in line for line in path.read_text().splitlines())
    assert set(after["hooks"]) == {"PostToolUse", "Notification"}


def test_an_install_from_another_interpreter_is_replaced_not_duplicated(
    cli: Cli, home: Path
) -> None:
    old = {"type": "command", "command": "/old/venv/bin/agent-tracker hook claude-code"}
    path = claude_settings(home)
    settings = {
        "hooks": {
            "PostToolUse": [{"matcher": "*", "hooks": [old]}],
            "PreCompact": [{"hooks": [old, {"type": "command", "command": "keep-me"}]}],
        }
    }
    write(path, json.dumps(settings))

    done = cli("integrate", "claude-code")

    assert "8 hooks updated" in done.out
    data = json.loads(path.read_text())
    for event in CLAUDE_EVENTS:
        assert commands(data, event) == [ours("claude-code")]
    assert commands(data, "PreCompact") == ["keep-me"]  # an event we no longer install
    assert "/old/venv" not in path.read_text()


def test_print_shows_the_new_file_and_writes_nothing(cli: Cli, home: Path) -> None:
    path = claude_settings(home)
    original = write(path, PERSONAL)

    done = cli("integrate", "claude-code", "--print")

    assert done.code == 0
    assert "would be installed" in done.out
    assert ours("claude-code") in done.out
    assert '"model": "opus"' in done.out
    assert path.read_bytes() == original
    assert not path.with_name("settings.json.agent-tracker.bak").exists()
    assert cli("integrate", "codex", "--print").code == 0
    assert not (home / ".codex").exists()


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ('{"hooks": {"Stop": [}', "is not valid JSON (line 1"),
        ('{"model": "a", "model": "b"}', "has the key model twice"),
        ('{"hooks": []}', '"hooks" is not an object'),
        ('["hooks"]', "does not hold a JSON object"),
        ('{"hooks": {"Stop": {}}}', '"hooks"."Stop" is not a list'),
    ],
)
def test_settings_we_cannot_merge_are_refused_and_left_alone(
    cli: Cli, home: Path, text: str, complaint: str
) -> None:
    path = claude_settings(home)
    original = write(path, text)

    done = cli("integrate", "claude-code")

    assert done.code == 1
    assert complaint in done.err
    assert "nothing was written" in done.err
    assert len(done.err.strip().splitlines()) == 1
    assert path.read_bytes() == original
    assert not path.with_name("settings.json.agent-tracker.bak").exists()
    cli("integrate", "claude-code", "--remove")
    assert path.read_bytes() == original


def test_project_installs_into_the_repositorys_settings(
    cli: Cli, home: Path, make_repo: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo()
    (repo / "src").mkdir()
    monkeypatch.chdir(repo / "src")

    done = cli("integrate", "claude-code", "--project")

    assert done.code == 0, done.err
    assert not (repo / ".claude" / "settings.json").exists()  # the shared file is left alone
    data = json.loads((repo / ".claude" / "settings.local.json").read_text())
    assert commands(data, "Stop") == [ours("claude-code")]
    assert not claude_settings(home).exists()
    assert cli("integrate", "claude-code", "--project", "--remove").code == 0
    assert not (repo / ".claude" / "settings.local.json").exists()


def test_project_outside_a_repository_is_a_clear_error(cli: Cli, home: Path) -> None:
    done = cli("integrate", "opencode", "--project")

    assert done.code == 1
    assert "not inside a git repository" in done.err
    assert not (home / ".config").exists()


def test_an_unknown_harness_is_a_usage_error(cli: Cli) -> None:
    done = cli("integrate", "cursor")

    assert done.code == 2
    assert "unknown harness 'cursor'" in done.err
    assert "claude-code, codex, opencode" in done.err


def test_an_older_claude_code_gets_only_the_events_it_knows(
    cli: Cli, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_CLAUDE_VERSION", "2.1.200")

    done = cli("integrate", "claude-code")

    data = json.loads(claude_settings(home).read_text())
    assert "PostModelSwitch" not in data["hooks"]
    assert "InstructionsLoaded" not in data["hooks"]
    assert "PostToolUseFailure" in data["hooks"]
    assert "Claude Code 2.1.200 does not know" in done.out


def test_without_claude_on_path_only_the_events_every_version_knows_are_installed(
    cli: Cli, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", os.defpath)
    monkeypatch.setattr(shutil, "which", lambda name, *args, **kwargs: None)

    done = cli("integrate", "claude-code")

    data = json.loads(claude_settings(home).read_text())
    assert "PostModelSwitch" not in data["hooks"]
    assert "SessionEnd" in data["hooks"]
    assert "could not ask `claude --version`" in done.out


def test_older_hand_made_hooks_and_a_fixed_model_are_pointed_out(cli: Cli, home: Path) -> None:
    legacy = {"type": "command", "command": "agent-tracker track tool -"}
    settings = {
        "env": {"AGENT_TRACKER_MODEL": "anthropic/claude-sonnet-4-5"},
        "hooks": {"PostToolUse": [{"matcher": "*", "hooks": [legacy]}]},
    }
    write(claude_settings(home), json.dumps(settings))

    done = cli("integrate", "claude-code")

    assert "older agent-tracker hook (PostToolUse: agent-tracker track tool -)" in done.out
    assert "sets AGENT_TRACKER_MODEL" in done.out
    data = json.loads(claude_settings(home).read_text())
    assert commands(data, "PostToolUse") == ["agent-tracker track tool -", ours("claude-code")]


def test_a_symlinked_settings_file_stays_a_link(cli: Cli, home: Path) -> None:
    real = home / "dotfiles" / "claude.json"
    original = write(real, PERSONAL)
    link = claude_settings(home)
    link.parent.mkdir()
    link.symlink_to(real)

    assert cli("integrate", "claude-code").code == 0
    assert link.is_symlink()
    assert ours("claude-code") in real.read_text()

    assert cli("integrate", "claude-code", "--remove").code == 0
    assert link.is_symlink()
    assert real.read_bytes() == original


def test_json_output_describes_the_change(cli: Cli, home: Path) -> None:
    done = cli("integrate", "claude-code", "--format", "json")

    assert done.code == 0
    data = json.loads(done.out)
    assert data["harness"] == "claude-code"
    assert data["scope"] == "user"
    assert data["command"] == ours("claude-code")
    assert data["events"] == CLAUDE_EVENTS
    (change,) = data["changes"]
    assert change["path"] == str(claude_settings(home))
    assert change["action"] == "installed"
    assert "content" not in change
    shown = json.loads(cli("integrate", "codex", "--print", "--format", "json").out)
    assert ours("codex") in shown["changes"][0]["content"]


def test_claude_config_dir_is_honoured(
    cli: Cli, tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "claude-config"))

    assert cli("integrate", "claude-code").code == 0

    assert (tmp_path / "claude-config" / "settings.json").exists()
    assert not claude_settings(home).exists()


# -- Codex ---------------------------------------------------------------------------------


def test_codex_hooks_go_to_hooks_json_and_the_person_learns_to_trust_them(
    cli: Cli, home: Path
) -> None:
    config = home / ".codex" / "config.toml"
    config_bytes = write(config, '# mine\nmodel = "gpt-5"  # keep this comment\n')

    done = cli("integrate", "codex")

    assert done.code == 0, done.err
    data = json.loads((home / ".codex" / "hooks.json").read_text())
    assert list(data["hooks"]) == CODEX_EVENTS
    assert data["hooks"]["PostToolUse"][0]["matcher"] == "*"
    for event in CODEX_EVENTS:
        assert commands(data, event) == [ours("codex")]
    assert config.read_bytes() == config_bytes
    assert "/hooks" in done.out
    assert "trust" in done.out
    assert "--dangerously-bypass-hook-trust" in done.out
    assert cli("integrate", "codex").out.count("nothing written") == 1


def test_codex_config_that_turns_hooks_off_is_pointed_out(cli: Cli, home: Path) -> None:
    write(home / ".codex" / "config.toml", "[features]\nhooks = false\n")

    done = cli("integrate", "codex")

    assert "turns hooks off" in done.out


def test_codex_project_hooks_and_project_trust(
    cli: Cli, home: Path, make_repo: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo()
    monkeypatch.chdir(repo)

    done = cli("integrate", "codex", "--project")

    assert done.code == 0, done.err
    assert commands(json.loads((repo / ".codex" / "hooks.json").read_text()), "Stop")
    assert "only in a trusted project" in done.out
    assert not (home / ".codex").exists()


def test_codex_home_is_honoured_in_a_separate_process(tmp_path: Path, home: Path) -> None:
    env = {**os.environ, "CODEX_HOME": str(tmp_path / "codex-home")}

    done = run_tracker("integrate", "codex", env=env)

    assert done.returncode == 0, done.stderr
    data = json.loads((tmp_path / "codex-home" / "hooks.json").read_text())
    assert commands(data, "SessionStart") == [ours("codex")]


# -- OpenCode ------------------------------------------------------------------------------


def plugin_file(home: Path) -> Path:
    return home / ".config" / "opencode" / "plugins" / "agent-tracker.js"


def test_opencode_plugin_is_installed_with_the_command_filled_in(cli: Cli, home: Path) -> None:
    done = cli("integrate", "opencode")

    assert done.code == 0, done.err
    text = plugin_file(home).read_text()
    assert text.startswith(opencode.MARKER)
    assert f"const TRACKER = {json.dumps(integrate.tracker_argv())}" in text
    assert opencode.PLACEHOLDER not in text
    stamp = plugin_file(home).stat().st_mtime_ns
    assert "already installed" in cli("integrate", "opencode").out
    assert plugin_file(home).stat().st_mtime_ns == stamp

    assert cli("integrate", "opencode", "--remove").code == 0
    assert not plugin_file(home).exists()


def test_a_file_that_is_not_ours_is_kept_and_put_back(cli: Cli, home: Path) -> None:
    original = write(plugin_file(home), "export const Mine = async () => ({})\n")

    done = cli("integrate", "opencode")

    assert "kept as agent-tracker.js.agent-tracker.bak" in done.out
    assert plugin_file(home).read_text().startswith(opencode.MARKER)
    assert cli("integrate", "opencode", "--remove").code == 0
    assert plugin_file(home).read_bytes() == original
    assert not plugin_file(home).with_name("agent-tracker.js.agent-tracker.bak").exists()


def test_an_older_plugin_in_the_old_folder_is_pointed_out(cli: Cli, home: Path) -> None:
    write(home / ".config" / "opencode" / "plugin" / "agent-tracker.js", "// old\n")

    done = cli("integrate", "opencode")

    assert "older agent-tracker plugin" in done.out


def test_opencode_follows_xdg_config_home_and_project(
    cli: Cli,
    tmp_path: Path,
    home: Path,
    make_repo: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert cli("integrate", "opencode").code == 0
    assert (tmp_path / "xdg" / "opencode" / "plugins" / "agent-tracker.js").exists()
    repo = make_repo()
    monkeypatch.chdir(repo)

    assert cli("integrate", "opencode", "--project").code == 0

    assert (repo / ".opencode" / "plugins" / "agent-tracker.js").exists()
    assert not plugin_file(home).exists()


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_the_filled_in_command_is_the_javascript_array_of_the_argv(tmp_path: Path) -> None:
    argv = ["/opt/my tools/bin/python3", "-m", "agent_tracker", 'it\'s "odd" \u00e9\u2028']
    module = tmp_path / "plugin.mjs"
    module.write_text(opencode.render(argv, PLUGIN_TEMPLATE))
    script = f"import({json.dumps(module.as_uri())}).then(async m => "
    script += "console.log(JSON.stringify((await m.AgentTracker()).TRACKER)))"

    done = subprocess.run(
        ["node", "-e", script], capture_output=True, text=True, check=False, timeout=60
    )

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == argv
    shipped = ROOT / "agent_tracker" / "integrations" / "opencode-plugin.js"
    if shipped.exists():  # the real plugin, filled in, is still valid JavaScript
        module.write_text(opencode.render(argv, shipped.read_text()))
        checked = subprocess.run(["node", "--check", str(module)], capture_output=True, check=False)
        assert checked.returncode == 0, checked.stderr
        assert json.dumps(argv) in module.read_text()


# -- the command, core functions -----------------------------------------------------------


def test_the_command_is_this_installations_console_script(tmp_path: Path) -> None:
    bin_dir = tmp_path / "my env" / "bin"
    bin_dir.mkdir(parents=True)
    python = bin_dir / "python"
    python.write_text("")
    script = bin_dir / "agent-tracker"
    script.write_text(f"#!{bin_dir / 'python3'}\nimport agent_tracker\n")

    # Not executable yet: not a console script we can run.
    assert integrate.tracker_argv(str(python)) == [str(python), "-m", "agent_tracker"]
    script.chmod(0o755)
    assert integrate.tracker_argv(str(python)) == [str(script)]
    script.write_text("#!/some/other/python\n")  # another installation's script
    assert integrate.tracker_argv(str(python)) == [str(python), "-m", "agent_tracker"]

    command = integrate.hook_command([str(script)], "codex")
    assert command.startswith("'")
    assert shlex.split(command) == [str(script), "hook", "codex"]
    assert hooks_json.is_ours({"command": command}, "codex")
    assert not hooks_json.is_ours({"command": command}, "claude-code")
    assert not hooks_json.is_ours({"command": "my-own hook codex"}, "codex")


def test_merge_leaves_entries_it_does_not_understand_alone() -> None:
    odd = {"hooks": {"Stop": ["not a group", {"matcher": 3}], "Other": "text"}, "x": None}
    handler = {"type": "command", "command": "agent-tracker hook codex", "timeout": 10}

    merged = hooks_json.merge(odd, [hooks_json.HookSpec("Stop", None)], handler, "codex")

    assert merged["hooks"]["Stop"][:2] == ["not a group", {"matcher": 3}]
    assert merged["hooks"]["Stop"][2] == {"hooks": [handler]}
    assert merged["hooks"]["Other"] == "text"
    assert merged["x"] is None
    assert hooks_json.remove_ours(merged, "codex") == (odd, True)


# -- from an installed wheel ---------------------------------------------------------------


def _source_copy(tmp_path: Path) -> Path:
    """The checkout as it is now (new files included), with a stand-in plugin if the real
    one is not written yet."""
    source = tmp_path / "source"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "__pycache__", ".*_cache", "node_modules", ".ci", "dist", "build"
        ),
    )
    plugin = source / "agent_tracker" / "integrations" / "opencode-plugin.js"
    if not plugin.exists():
        plugin.parent.mkdir(parents=True, exist_ok=True)
        plugin.write_text(PLUGIN_TEMPLATE)
    return source


def test_integrate_from_an_installed_wheel_points_at_that_installation(tmp_path: Path) -> None:
    source = _source_copy(tmp_path)
    wheels = tmp_path / "wheels"
    build = [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps"]
    build += ["--no-build-isolation", "-q", "-w", str(wheels)]
    subprocess.run(build, check=True, capture_output=True)
    (wheel,) = wheels.glob("agent_tracker-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert "agent_tracker/integrations/opencode-plugin.js" in names
    assert {"agent_tracker/integrate/__init__.py", "agent_tracker/integrate/codex.py"} <= names

    venv = tmp_path / "fresh venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q"]
    subprocess.run([*install, "--no-deps", "--no-index", str(wheel)], check=True)
    # The dependencies come from the environment running the tests (no network); the
    # package itself only from the wheel.
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    deps = next(p for p in sys.path if p.endswith("site-packages"))
    (Path(site) / "test-deps.pth").write_text(deps + "\n")
    home = tmp_path / "wheel-home"
    home.mkdir()
    # Nothing may point that environment back at the checkout.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["HOME"] = str(home)
    script = venv / "bin" / "agent-tracker"

    for harness in ("claude-code", "codex", "opencode"):
        done = subprocess.run(
            [str(script), "integrate", harness],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr

    expected = shlex.join([str(script), "hook", "claude-code"])
    settings = json.loads((home / ".claude" / "settings.json").read_text())
    assert commands(settings, "PostToolUse") == [expected]
    hooks = json.loads((home / ".codex" / "hooks.json").read_text())
    assert commands(hooks, "Stop") == [shlex.join([str(script), "hook", "codex"])]
    plugin = (home / ".config" / "opencode" / "plugins" / "agent-tracker.js").read_text()
    assert json.dumps([str(script)]) in plugin
    imported = subprocess.run(
        [str(python), "-c", "import agent_tracker; print(agent_tracker.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    assert imported.startswith(str(venv))  # the wheel's copy ran, not the checkout


def test_an_older_plugin_of_ours_is_updated_and_a_conflict_is_refused(cli: Cli, home: Path) -> None:
    write(plugin_file(home), f"{opencode.MARKER}: an older version\n")

    assert "plugin updated" in cli("integrate", "opencode").out
    assert not plugin_file(home).with_name("agent-tracker.js.agent-tracker.bak").exists()

    write(plugin_file(home), "// mine\n")
    backup = write(plugin_file(home).with_name("agent-tracker.js.agent-tracker.bak"), "// x\n")
    done = cli("integrate", "opencode")
    assert done.code == 1
    assert "already exists" in done.err
    assert plugin_file(home).read_text() == "// mine\n"
    assert plugin_file(home).with_name("agent-tracker.js.agent-tracker.bak").read_bytes() == backup

    removed = cli("integrate", "opencode", "--remove")
    assert "not written by agent-tracker; left alone" in removed.out
    assert plugin_file(home).read_text() == "// mine\n"


def test_codex_hooks_also_in_config_toml_are_pointed_out(cli: Cli, home: Path) -> None:
    toml = '[[hooks.Stop]]\nhooks = [{ type = "command", command = "mine" }]\n'
    write(home / ".codex" / "config.toml", toml)

    done = cli("integrate", "codex")

    assert "also has [hooks] tables" in done.out

"""`report --format html`: the page, its escaping, its vendored chart library, and the page in
a real headless browser (Debian's chromium, installed by .ci/run when missing)."""

from __future__ import annotations

import hashlib
import html.parser
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import zipfile
import zlib
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest
from conftest import commit_event

from agent_tracker import config, events, reporthtml
from agent_tracker.errors import printable
from agent_tracker.flush import flush
from agent_tracker.journal import Journal
from agent_tracker.ranking import Group
from agent_tracker.report import Query, build

TODAY = date.today()
SCRIPT = Path(sys.executable).parent / "agent-tracker"  # the installed console script
GOOD = ("opencode", "build", "anthropic/claude-sonnet-4-5")
PLAN = ("claude-code", "plan", "anthropic/claude-opus-4-1")
CODEX = ("codex", "default", "openai/gpt-5-codex")
EVIL_AGENT = "x</script><script>document.title='pwned'</script><!--"
EVIL_MODEL = "evil/<img src=x onerror=\"document.title='pwned'\">\u2028&amp;"
EVIL = ("opencode", EVIL_AGENT, EVIL_MODEL)
CONTROL = ("opencode", "red\x1b[31m", "rtl\u202eexe.txt")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Debian's chromium is not installed (.ci/run installs it with apt-get as root)",
)


class History:
    """Commits and grades written with chosen days straight into the real journal."""

    def __init__(self, settings: config.Settings) -> None:
        self.settings = settings
        self.journal = Journal(settings.journal_dir)
        self.count = 0

    def commit(
        self,
        setup: tuple[str, str, str],
        user: int | None,
        agent: int | None = None,
        *,
        days_ago: int = 1,
        project: str = "github.com/me/app",
    ) -> None:
        self.count += 1
        sha = f"{self.count:040x}"
        day = TODAY - timedelta(days=days_ago)
        ts = float(date(day.year, day.month, day.day).strftime("%s")) + 43200
        made = [commit_event(setup, project, sha)]
        if user is not None:
            made.append(events.make("grade", setup, project, hash=sha, by="user", grade=user))
        if agent is not None:
            made.append(events.make("grade", setup, project, hash=sha, by="agent", grade=agent))
        for event in made:
            event["ts"] = ts
            self.journal.append(events.encode(event))


def seed(settings: config.Settings) -> History:
    """Three setups with clear differences over ten weeks, and one with a hostile name."""
    history = History(settings)
    for week in range(10):
        for project in ("github.com/me/app", "github.com/me/api"):
            history.commit(GOOD, 2, 5, days_ago=7 * week + 1, project=project)
            history.commit(PLAN, 1, 2, days_ago=7 * week + 2, project=project)
            history.commit(CODEX, -1 if week % 3 else 1, 1, days_ago=7 * week + 3, project=project)
    for days_ago in (2, 9, 16):
        history.commit(EVIL, 1, days_ago=days_ago)
    history.commit(CONTROL, 1, days_ago=3)
    flush(settings)
    return history


def page_of(*args: str) -> subprocess.CompletedProcess[bytes]:
    """`agent-tracker report --format html ARGS` through the console script, piped."""
    return subprocess.run(
        [str(SCRIPT), "report", "--format", "html", *args],
        capture_output=True,
        timeout=60,
        check=False,
    )


class Dom(html.parser.HTMLParser):
    """Elements (tag, attributes) and the text of a page, as a browser's parser sees them."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.texts: list[str] = []
        self._skip = 0
        self.feed(source)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        if tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.texts.append(data)

    @property
    def text(self) -> str:
        return " ".join("".join(self.texts).split())

    def tags(self, name: str) -> list[dict[str, str | None]]:
        return [attrs for tag, attrs in self.elements if tag == name]


def words(text: str) -> str:
    return " ".join(text.split())


def title_of(page: str) -> str:
    return page.split("<title>", 1)[1].split("</title>", 1)[0]


# -- the vendored library --------------------------------------------------------------------


def test_the_vendored_chart_js_is_the_published_file_with_its_licence() -> None:
    folder = reporthtml.CHART_JS.parent
    digest = hashlib.sha256(reporthtml.CHART_JS.read_bytes()).hexdigest()
    assert digest == reporthtml.CHART_JS_SHA256
    note = (folder / "README.md").read_text()
    assert f"`{digest}`" in note
    assert f"`chart.js` {reporthtml.CHART_JS_VERSION} from the npm registry" in note
    assert reporthtml.CHART_JS.read_text()[:40].split("\n")[1] == (
        f" * Chart.js v{reporthtml.CHART_JS_VERSION}"
    )
    licence = (folder / "LICENSE.md").read_text()
    assert licence.startswith("The MIT License (MIT)")
    assert "Chart.js Contributors" in licence


def test_the_wheel_ships_the_assets_as_they_are(tmp_path: Path) -> None:
    """pip and pipx users get the page from the wheel, not from a checkout."""
    root = Path(reporthtml.__file__).resolve().parent.parent
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(root),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("agent_tracker-*.whl")
    assets = sorted(p for p in reporthtml.ASSETS.rglob("*") if p.is_file())
    assert reporthtml.CHART_JS in assets
    with zipfile.ZipFile(wheel) as archive:
        for path in assets:
            name = "agent_tracker/" + path.relative_to(reporthtml.ASSETS.parent).as_posix()
            assert archive.read(name) == path.read_bytes(), name


# -- the page as text --------------------------------------------------------------------------


def test_names_cannot_leave_their_text_or_their_json(settings: config.Settings) -> None:
    seed(settings)
    report = build(settings, Query())
    page = reporthtml.page(report)
    dom = Dom(page)
    # Only our own elements: four scripts (the data and three programs), no image, no link.
    assert len(dom.tags("script")) == 4
    assert page.lower().count("</script") == 4
    assert "<!--" not in page
    assert dom.tags("img") == []
    assert dom.tags("link") == []
    assert title_of(page) == "agent-tracker report by setup"  # no injected script ran
    assert "\x1b" not in page
    assert "\u202e" not in page
    # The names read as they are (control characters as the terminal shows them).
    evil_label = f"{EVIL_AGENT}@{EVIL_MODEL} (opencode)"
    assert words(printable(evil_label)) in dom.text
    assert "red\\x1b[31m@rtl\\u202eexe.txt (opencode)" in dom.text
    # The charts' data decodes to the same names.
    (block,) = [a for a in dom.tags("script") if a.get("type") == "application/json"]
    assert block["id"] == "report-data"
    payload = page.split('<script type="application/json" id="report-data">', 1)[1]
    payload = payload.split("</script>", 1)[0]
    assert "\u2028" not in payload  # a line break to JavaScript before ES2019
    assert "\\u2028" in payload
    data = json.loads(payload)
    labels = {g["label"] for g in data["groups"]}
    assert printable(evil_label) in labels
    evil = next(g for g in data["groups"] if g["label"] == printable(evil_label))
    assert evil["lines"] == [
        reporthtml._clip(f"{EVIL_AGENT} (opencode)"),
        reporthtml._clip(printable(EVIL_MODEL)),
    ]
    assert evil["lines"][0].endswith("\u2026")


def test_the_page_is_self_contained_under_a_megabyte_with_many_setups(
    settings: config.Settings,
) -> None:
    history = History(settings)
    for index in range(120):  # far more setups than anyone compares
        setup = ("opencode", f"agent-{index}", f"vendor/model-with-a-long-name-{index:03d}")
        for week in range(0, 110, 3):
            grade = events.GRADE_VALUES[(index + week) % len(events.GRADE_VALUES)]
            history.commit(setup, grade, 5, days_ago=7 * week + 1)
    flush(settings)
    done = page_of()
    assert done.returncode == 0, done.stderr
    assert len(done.stdout) < 1_000_000
    page = done.stdout.decode("utf-8")
    dom = Dom(page)
    # Nothing to fetch: no element names a source, and the policy allows none.
    assert [(t, a) for t, a in dom.elements if "src" in a or "href" in a] == []
    assert "url(" not in page.split("<script", 1)[0]
    assert "@import" not in page
    (policy,) = [
        a["content"] for a in dom.tags("meta") if a.get("http-equiv") == "Content-Security-Policy"
    ]
    assert policy is not None
    assert policy.startswith("default-src 'none'; script-src 'sha256-")
    assert "'unsafe-inline'" not in policy
    assert "All setups" in dom.text
    data = json.loads(page.split('id="report-data">', 1)[1].split("</script>", 1)[0])
    assert len(data["groups"]) == reporthtml.MAX_CHART_ROWS
    assert data["more_groups"] == 120 - reporthtml.MAX_CHART_ROWS
    assert sum("weekly" in g for g in data["groups"]) == reporthtml.TREND_LINES
    assert len(data["weeks"]) == reporthtml.MAX_WEEKS
    assert page.split('<section id="groups">', 1)[1].count("<tr") == 1 + 120  # all setups


def test_each_policy_hash_is_that_of_a_script_on_the_page(settings: config.Settings) -> None:
    seed(settings)
    page = reporthtml.page(build(settings, Query()))
    scripts = re.findall(r"<script>(.*?)</script>", page, flags=re.DOTALL)
    assert len(scripts) == 3
    assert scripts[1] == reporthtml.chart_js()  # embedded as published
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page)
    assert policy is not None
    hashes = re.findall(r"script-src ([^;]*)", policy[1])[0].split()
    assert hashes == [reporthtml._hash(script) for script in scripts]


def test_weeks_run_without_gaps_across_the_new_year() -> None:
    first = Group(label="a", weekly={"2026-W52": [2, 3], "2027-W02": [1, 5]})
    second = Group(label="b", weekly={"2026-W53": [0, 0]})  # no user grade: not a bound
    assert reporthtml.weeks_axis([first, second]) == [
        "2026-W52",
        "2026-W53",
        "2027-W01",
        "2027-W02",
    ]
    assert reporthtml.weeks_axis([second]) == []
    long = Group(label="c", weekly={"2020-W01": [1, 1], "2026-W10": [1, 1]})
    axis = reporthtml.weeks_axis([long])
    assert len(axis) == reporthtml.MAX_WEEKS
    assert axis[-1] == "2026-W10"


def test_chart_data_marks_the_choice_and_fills_missing_weeks(settings: config.Settings) -> None:
    history = History(settings)
    for week in (0, 2):  # the week between has no grade
        for _ in range(3):
            history.commit(GOOD, 5, days_ago=7 * week + 1)
            history.commit(PLAN, -1, days_ago=7 * week + 1)
    flush(settings)
    report = build(settings, Query())
    data = reporthtml.chart_data(report)
    good, plan = data["groups"]
    assert good["label"] == "build@anthropic/claude-sonnet-4-5 (opencode)"
    assert good["chosen"] is True
    assert plan["chosen"] is False
    assert good["lines"] == ["build (opencode)", "anthropic/claude-sonnet-4-5"]
    assert len(data["weeks"]) == 3  # days 15 and 1 ago: two weeks apart, to the day
    assert good["weekly"][1] is None
    assert [v for v in good["weekly"] if v is not None] == [5.0, 5.0]
    assert sum(good["weekly_n"]) == 6
    assert good["mix"] == [0, 0, 0, 6]
    assert plan["mix"] == [6, 0, 0, 0]
    assert good["low"] < good["score"] < good["high"]
    assert good["light"] == reporthtml.lighter(good["colour"])


# -- through the console script --------------------------------------------------------------


def test_html_goes_to_a_pipe_and_a_terminal_gets_one_line(settings: config.Settings) -> None:
    seed(settings)
    done = page_of()
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(b"<!DOCTYPE html>\n")
    assert done.stdout.endswith(b"</html>\n")
    assert "Use build@anthropic/claude-sonnet-4-5 (opencode)" in words(
        Dom(done.stdout.decode()).text
    )
    # The same page through Typer's parser (a repeated option: the fast parser leaves it).
    typer_done = page_of("--by", "setup", "--by", "setup")
    assert typer_done.returncode == 0, typer_done.stderr
    stamp = re.compile(rb"generated [0-9TZ:-]+")
    assert stamp.sub(b"", typer_done.stdout) == stamp.sub(b"", done.stdout)
    primary, replica = os.openpty()
    try:
        tty = subprocess.run(
            [str(SCRIPT), "report", "--format", "html"],
            stdout=replica,
            stderr=subprocess.PIPE,
            timeout=60,
            check=False,
        )
    finally:
        os.close(replica)
        os.close(primary)
    assert tty.returncode == 2
    assert tty.stderr.decode() == (
        "agent-tracker: error: --format html writes a whole web page: send it to a file, "
        "e.g. `agent-tracker report --format html > report.html`\n"
    )
    setup = page_of("--setup", "build@anthropic/claude-sonnet-4-5")
    assert setup.returncode == 2
    assert b"use --format text or json" in setup.stderr
    assert setup.stdout == b""


def test_the_html_report_reads_its_module_only_when_asked(settings: config.Settings) -> None:
    seed(settings)
    program = (
        "import io, sys\n"
        "out, sys.stdout = sys.stdout, io.TextIOWrapper(io.BytesIO())\n"
        "from agent_tracker import entry\n"
        "code = entry.main(sys.argv[1:])\n"
        "sys.stdout = out\n"
        "print(code, ' '.join(sorted(sys.modules)))\n"
    )

    def loaded(*argv: str) -> set[str]:
        done = subprocess.run(
            [sys.executable, "-c", program, *argv], capture_output=True, text=True, check=False
        )
        code, _, modules = done.stdout.strip().partition(" ")
        assert code == "0", done.stderr
        return set(modules.split())

    assert "agent_tracker.reporthtml" not in loaded("report")
    assert "agent_tracker.reporthtml" not in loaded("report", "--format", "json")
    html_run = loaded("report", "--format", "html")
    assert "agent_tracker.reporthtml" in html_run
    assert "typer" not in html_run  # the fast parser takes html as it takes the rest


# -- in a real browser -----------------------------------------------------------------------


def chromium(tmp_path: Path, page: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Headless chromium on `page` (a file:// URL), with a throw-away profile, bounded."""
    assert CHROMIUM is not None
    command = [
        CHROMIUM,
        "--headless",
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        "--no-default-browser-check",
        "--force-device-scale-factor=1",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=10000",
        *args,
        page.as_uri(),
    ]
    if os.geteuid() == 0:  # chromium refuses to run as root with its sandbox
        command.insert(1, "--no-sandbox")
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def console_lines(stderr: str) -> list[str]:
    """What the page wrote to the console (chromium logs it as `...:CONSOLE:...`)."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def written_page(tmp_path: Path, *args: str) -> Path:
    done = page_of(*args)
    assert done.returncode == 0, done.stderr
    path = tmp_path / "report.html"
    path.write_bytes(done.stdout)
    return path


@needs_chromium
def test_chromium_draws_every_chart_without_an_error(
    settings: config.Settings, tmp_path: Path
) -> None:
    seed(settings)
    page = written_page(tmp_path)
    done = chromium(tmp_path, page, "--dump-dom")
    assert done.returncode == 0, done.stderr[-2000:]
    assert console_lines(done.stderr) == []
    dom = Dom(done.stdout)
    (root,) = dom.tags("html")
    assert root.get("data-charts") == "5", done.stdout[:500]  # score, P(best), trend, mix, evidence
    assert "data-errors" not in root
    (errors,) = [a for t, a in dom.elements if a.get("id") == "errors"]
    assert "hidden" in errors
    # The setups and the recommendation are on the page, the hostile name as plain text.
    text = dom.text
    report = build(settings, Query())
    assert words(report.recommendation) in text
    assert report.recommendation.startswith("Use build@anthropic/claude-sonnet-4-5 (opencode)")
    for group in report.groups:
        assert words(printable(group.label)) in text
    assert len(dom.tags("script")) == 4
    assert dom.tags("img") == []
    assert title_of(done.stdout) == "agent-tracker report by setup"  # no injected script ran
    canvases = dom.tags("canvas")
    assert len(canvases) == 5
    # Chart.js sized each canvas: a drawn chart has width and height attributes.
    assert all(int(c.get("width") or 0) > 300 and int(c.get("height") or 0) > 100 for c in canvases)


@needs_chromium
def test_an_error_while_drawing_shows_on_the_page(
    settings: config.Settings, tmp_path: Path
) -> None:
    """The error box works: with the chart library missing, the page says so (and a test of a
    broken page fails rather than passing on a blank one)."""
    seed(settings)
    page = written_page(tmp_path)
    text = page.read_text()
    # Another script in place of Chart.js: the policy (hashes) blocks it, and report.js finds
    # no `Chart`. Both must show.
    broken = text.replace(reporthtml.chart_js(), "window.Chart = undefined;")
    page.write_text(broken)
    done = chromium(tmp_path, page, "--dump-dom")
    assert done.returncode == 0, done.stderr[-2000:]
    dom = Dom(done.stdout)
    (root,) = dom.tags("html")
    assert "data-charts" not in root
    assert int(root.get("data-errors") or 0) >= 2
    assert "blocked by the page's policy: script-src" in dom.text
    assert "Chart is not defined" in dom.text
    assert console_lines(done.stderr) != []


@needs_chromium
def test_the_screenshot_shows_the_charts(settings: config.Settings, tmp_path: Path) -> None:
    seed(settings)
    page = written_page(tmp_path)
    shot = tmp_path / "report.png"
    done = chromium(tmp_path, page, f"--screenshot={shot}", "--window-size=1000,1400")
    assert shot.exists(), done.stderr[-2000:]
    width, height, pixels = png_pixels(shot.read_bytes())
    assert (width, height) == (1000, 1400)
    colours = Counter(pixels)
    assert len(colours) > 200, "the screenshot is (nearly) blank"
    data = reporthtml.chart_data(build(settings, Query()))
    first = data["groups"][0]
    # The recommended setup's interval bar and its P(best) bar, in their exact colours.
    for colour in (first["light"], first["colour"]):
        rgb = bytes.fromhex(colour[1:])
        assert colours[rgb] > 300, f"{colour} drawn in {colours[rgb]} pixels"


@needs_chromium
def test_with_agent_grades_only_the_page_draws_what_there_is(
    settings: config.Settings, tmp_path: Path
) -> None:
    history = History(settings)
    for days_ago in range(6):
        history.commit(GOOD, None, 5, days_ago=days_ago)
        history.commit(PLAN, None, 2, days_ago=days_ago, project="github.com/me/api")
    flush(settings)
    page = written_page(tmp_path, "--by", "project")
    done = chromium(tmp_path, page, "--dump-dom")
    assert done.returncode == 0, done.stderr[-2000:]
    assert console_lines(done.stderr) == []
    dom = Dom(done.stdout)
    (root,) = dom.tags("html")
    assert root.get("data-charts") == "2"  # the grade mix and the graded commits
    assert [c["id"] for c in dom.tags("canvas")] == ["chart-mix", "chart-evidence"]
    assert "No user grades yet: no scores, intervals or P(best) to draw." in dom.text
    assert "Your projects, ranked by your grades" in dom.text
    assert "Not enough evidence yet: 0 user-graded commits so far" in dom.text
    for name in ("app", "api"):
        assert f"{name}: agent grades only (6 commits)" in dom.text


@needs_chromium
def test_an_empty_report_is_a_page_that_says_what_to_do(tmp_path: Path) -> None:
    page = written_page(tmp_path)
    done = chromium(tmp_path, page, "--dump-dom")
    assert done.returncode == 0, done.stderr[-2000:]
    assert console_lines(done.stderr) == []
    dom = Dom(done.stdout)
    assert "No agent activity recorded yet." in dom.text
    assert "agent-tracker hooks install" in dom.text
    assert dom.tags("canvas") == []


# -- a PNG reader: enough of the format for chromium's screenshots -----------------------------


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """(width, height, each pixel's RGB) of an 8-bit RGB or RGBA, non-interlaced PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, chunks = 8, []
    width = height = depth = kind = interlace = 0
    while position < len(data):
        length, name = struct.unpack(">I4s", data[position : position + 8])
        body = data[position + 8 : position + 8 + length]
        position += 12 + length
        if name == b"IHDR":
            width, height, depth, kind, _, _, interlace = struct.unpack(">IIBBBBB", body)
        elif name == b"IDAT":
            chunks.append(body)
        elif name == b"IEND":
            break
    assert (depth, interlace) == (8, 0), (depth, interlace)
    assert kind in (2, 6), kind
    size = 3 if kind == 2 else 4
    raw = zlib.decompress(b"".join(chunks))
    stride = width * size
    previous = bytearray(stride)
    pixels: list[bytes] = []
    for row in range(height):
        start = row * (stride + 1)
        method = raw[start]
        line = bytearray(raw[start + 1 : start + 1 + stride])
        if method == 1:  # Sub
            for i in range(size, stride):
                line[i] = (line[i] + line[i - size]) & 0xFF
        elif method == 2:  # Up
            line = bytearray((a + b) & 0xFF for a, b in zip(line, previous, strict=True))
        elif method == 3:  # Average
            for i in range(stride):
                left = line[i - size] if i >= size else 0
                line[i] = (line[i] + ((left + previous[i]) >> 1)) & 0xFF
        elif method == 4:  # Paeth
            for i in range(stride):
                a = line[i - size] if i >= size else 0
                b = previous[i]
                c = previous[i - size] if i >= size else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                near = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + near) & 0xFF
        else:
            assert method == 0, method
        pixels += [bytes(line[i : i + 3]) for i in range(0, stride, size)]
        previous = line
    return width, height, pixels

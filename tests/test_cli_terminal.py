"""What an operator sees in a terminal: the CLI run as a real process, with and without a
pseudo-terminal, against feeds on the loopback HTTP server."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

try:
    from support.feedserver import FeedServer
except ImportError:  # pragma: no cover
    from support.feedserver import FeedServer

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "aggregator" / "data" / "demo"
CLI = [sys.executable, "-m", "aggregator"]
SUBCOMMANDS = ["check", "fetch", "publish", "run", "digest", "status", "tag", "dedupe", "opml",
               "serve", "demo"]  # fmt: skip


def run_cli(*args: str, cwd: Path | None = None, stdin: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "100"}
    env.pop("AGGREGATOR_CONFIG", None)
    return subprocess.run(
        [*CLI, *args], input=stdin, capture_output=True, text=True, cwd=cwd, env=env, timeout=120
    )


def run_in_pty(*args: str, cwd: Path) -> str:
    """Run the CLI with stdout and stderr on a pseudo-terminal of 100 x 30; return all it
    wrote (with the terminal's \\r\\n)."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    proc = subprocess.Popen(
        [*CLI, *args], stdin=subprocess.DEVNULL, stdout=follower, stderr=follower, cwd=cwd,
        env={**os.environ, "TERM": "xterm"}, close_fds=True,
    )  # fmt: skip
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=120)
    os.close(leader)
    assert proc.returncode == 0
    return b"".join(chunks).decode("utf-8", "replace")


@pytest.fixture
def site(tmp_path):
    """Two good feeds (one slow, so the bar has time to draw) and one failing source."""
    with FeedServer(root=DEMO) as srv:
        srv.put("/row.xml", (DEMO / "rest-of-world-en.xml").read_bytes())
        (tmp_path / "config.yaml").write_text(
            "sources:\n"
            f"  - name: TechCabal\n    url: {srv.url('techcabal-en.xml')}\n"
            f"  - name: Rest of World\n    url: {srv.url('_slow?delay=0.5&doc=/row.xml')}\n"
            f"  - name: Broken one\n    url: {srv.url('_status/500')}\n"
            "fetch:\n  allow_private: [127.0.0.0/8]\n  per_host: 1\n",
            encoding="utf-8",
        )
        yield tmp_path


def test_bare_command_prints_the_overview_and_exits_2():
    r = run_cli()
    assert r.returncode == 2
    assert "commands:" in r.stdout and r.stderr == ""
    for name in SUBCOMMANDS:
        assert re.search(rf"^    {name} +\S", r.stdout, re.M), name
    assert "exit codes:" in r.stdout


@pytest.mark.parametrize("command", [*SUBCOMMANDS, "opml import", "opml export"])
def test_every_help_page_has_a_description_defaults_and_an_example(command):
    r = run_cli(*command.split(), "--help")
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    usage_end = lines.index("")
    description = lines[usage_end + 1]
    assert description.endswith(".") and len(description) < 100  # one line
    example = r.stdout.split("\nexample:\n", 1)[1]
    assert example.startswith("  ") and "aggregator " in example
    options = r.stdout.split("options:")[1]
    for flag in re.findall(r"^  (--[a-z-]+) [A-Z]", options, re.M):  # options taking a value
        block = options.split(flag, 1)[1].split("\n  -", 1)[0]
        assert "default" in block, f"{command} {flag}: no default"


def test_the_overview_lists_one_exit_code_a_line():
    out = run_cli("--help").stdout
    codes = out.split("exit codes:\n", 1)[1].splitlines()
    assert [c.split()[0] for c in codes] == ["0", "1", "2", "3"], out
    assert "(default: text)" in out and "\n                        (default: text)" not in out


@pytest.mark.parametrize("command", ["subscribers", "bounces", "sources"])
def test_commands_with_actions_open_with_one_line_and_wrap_their_prose(command):
    r = run_cli(command, "--help")
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    description = lines[lines.index("") + 1]
    assert description.endswith(".") and len(description) < 100, description
    assert max(len(line) for line in lines) <= 100, r.stdout  # COLUMNS=100: wrapped
    assert re.search(r"^  aggregator " + command, r.stdout, re.M)  # examples kept as written


@pytest.mark.parametrize("command", ["tag", "dedupe"])
def test_jsonl_help_documents_input_and_output_lines(command):
    out = run_cli(command, "--help").stdout
    assert re.search(r"^  input: +\{\"id\"", out, re.M)
    assert re.search(r"^  output: +\{\"id\"", out, re.M)


def test_the_documented_tag_input_gives_the_documented_output():
    r = run_cli("tag", "--jsonl", stdin='{"id": "a1", "title": "Le Maroc mise sur l\'IA"}\n')
    assert r.returncode == 0
    assert r.stdout.startswith('{"id": "a1", "tags": [') and '"countries": ["MA"]' in r.stdout


def test_each_failure_is_printed_once_and_plurals_agree_without_a_terminal(site):
    r = run_cli("run", "--once", cwd=site)
    assert r.returncode == 0
    both = r.stdout + r.stderr
    assert both.count("HTTP 500") == 1, both
    assert "  Broken one: backing-off: HTTP 500" in r.stdout
    assert r.stdout.startswith("3 sources: 2 ok, 0 not modified, 1 failed; 20 new items in")
    assert "\r" not in both and "fetching" not in both  # no bar when not a terminal

    one = run_cli("fetch", "--force", "--source", "TechCabal", cwd=site)
    assert one.stdout.startswith("1 source: 0 ok, 1 not modified, 0 failed; 0 new items in")


def test_on_a_terminal_the_bar_keeps_log_lines_above_it(site):
    out = run_in_pty("-v", "fetch", cwd=site)
    assert "fetching:" in out and "/3" in out  # the bar was drawn
    # every log line starts on a line of its own: the bar never shares a line with one
    for line in out.split("\r\n"):
        cleaned = line.split("\r")[-1]  # what stays visible after carriage returns
        if " INFO " in line:
            assert re.match(r"^\d\d:\d\d:\d\d INFO ", cleaned), repr(line)
            assert "fetching:" not in cleaned
    assert out.count("HTTP 500") == 1
    summary = [ln for ln in out.split("\r\n") if "sources:" in ln]
    assert summary and summary[-1].split("\r")[-1].startswith("3 sources: 2 ok")

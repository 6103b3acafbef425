"""Every Snakemake command in README.md and docs/*.md runs as written, so none can rot.

A command is any ``.venv/bin/snakemake ...`` in a ```bash (or untyped) block (``\\`` continuations joined, ``&&`` chains split) or
in an inline code span (table cells included). Each is run with its own arguments through this interpreter's
Snakemake, in an empty work directory that sees the repository's ``config.yaml``, ``presets/`` and ``profiles/``:
as a dry run (``-n``), which parses the config, resolves every target and plans the jobs without running one (a
command without ``--configfile`` plans the full reproduction, which needs no download to plan). ``--unlock`` runs for
real (the directory is empty); ``--report FILE`` cannot be dry-run (Snakemake wants the finished files), so the rest
of that command is dry-run and FILE must be an .html or .zip.

A ``<placeholder>`` must be one of PLACEHOLDERS, replaced by the value the docs name for it.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PROGRAM = ".venv/bin/snakemake"
PLACEHOLDERS = {"<preset>": "presets/demo.yaml"}  # docs/running.md: "<preset> is the --configfile of the run"
SHARED = ("config.yaml", "presets", "profiles")  # what a command names relative to the repository root


def pages() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


FENCE = re.compile(r"^\s*(```+|~~~+)\s*(\S*)")
SPAN = re.compile(r"(?<!`)`([^`]+)`(?!`)")


def commands(text: str) -> list[tuple[int, str]]:
    """(line, command) of every snakemake command in a Markdown text."""
    found = []
    prose = []  # the text outside fenced blocks, fenced lines blanked (line numbers kept)
    fence = language = None
    block: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), 1):
        match = FENCE.match(line)
        if fence is None and match:
            fence, language, block = match.group(1), match.group(2), []
            prose.append("")
            continue
        if fence is not None:
            if line.strip().startswith(fence[:3]) and line.strip().strip(fence[0]) == "":
                if language in ("bash", "sh", "shell", "console", ""):  # an untyped fence holds commands too
                    found += block_commands(block)
                fence = None
            else:
                block.append((number, line))
            prose.append("")
            continue
        prose.append(line)
    joined = "\n".join(prose)
    for match in SPAN.finditer(joined):
        span = " ".join(match.group(1).split())
        if span.startswith(PROGRAM + " "):  # the bare name in prose is a mention, not a command
            found.append((joined.count("\n", 0, match.start()) + 1, span))
    return sorted(found)


def block_commands(lines: list[tuple[int, str]]) -> list[tuple[int, str]]:
    out, current, start = [], "", None
    for number, line in lines:
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        start = start if current else number
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        for part in current.split("&&"):
            part = " ".join(part.split())
            if part.startswith(PROGRAM + " ") or part == PROGRAM:
                out.append((start, part))
        current = ""
    return out


def bare_snakemake(text: str) -> list[str]:
    """Lines of ```bash blocks that call ``snakemake`` without ``.venv/bin/``: the test would not see them."""
    lines, inside = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            inside = not inside and FENCE.match(line).group(2) == "bash"
            continue
        if inside and re.match(r"\s*snakemake\b", line):
            lines.append(line.strip())
    return lines


def collected() -> list[tuple[str, str]]:
    return [(f"{page.relative_to(REPO)}:{line}", command) for page in pages()
            for line, command in commands(page.read_text())]


def arguments(command: str) -> list[str]:
    for placeholder, value in PLACEHOLDERS.items():
        command = command.replace(placeholder, value)
    unknown = re.findall(r"<[^<>]+>", command)
    assert not unknown, f"placeholders {unknown} are not in tests/test_docs.py PLACEHOLDERS: {command}"
    argv = shlex.split(command)
    assert argv[0] == PROGRAM
    return argv[1:]


def dry_run(args: list[str]) -> tuple[list[str], str | None]:
    """The arguments that check the command without running a job, and the --report file it names (if any)."""
    if "--unlock" in args or "--lint" in args:
        return args, None  # unlock an empty folder; lint runs no job
    report = None
    if "--report" in args:
        at = args.index("--report")
        report = args[at + 1]
        args = args[:at] + args[at + 2 :]
    return args + ["-n"], report


CASES = collected()


@pytest.mark.parametrize("where, command", CASES, ids=[where for where, _ in CASES])
def test_command_runs(where, command, tmp_path):
    args, report = dry_run(arguments(command))
    if report is not None:
        assert Path(report).suffix in (".html", ".zip"), f"{where}: --report {report} is not an .html or .zip"
    for name in SHARED:
        (tmp_path / name).symlink_to(REPO / name)
    argv = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path),
            *args]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TORCH_HOME": str(tmp_path / "torch-home")}
    result = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, f"{where}: `{command}` failed:\n{(result.stdout + result.stderr)[-4000:]}"


def test_every_page_is_searched():
    """The commands this file runs include those of README's "Running part of it" table, one per row."""
    rows = [c for w, c in CASES if "results/" in c and "--resources gpu=1" in c]
    assert len(rows) >= 4, rows
    assert any(c.startswith(f"{PROGRAM} --cores 2 --configfile presets/demo.yaml") for _, c in CASES)


def test_no_bare_snakemake_in_bash_blocks():
    for page in pages():
        assert bare_snakemake(page.read_text()) == [], f"{page.name}: write {PROGRAM}, so tests/test_docs.py runs it"


def test_extraction():
    text = "\n".join([
        "Run `.venv/bin/snakemake a --cores 1` or `snakemake -n`; `.venv/bin/snakemake` is a name.",
        "| x | `.venv/bin/snakemake b --cores 2` |",
        "   ```bash",
        "   # a comment",
        "   python3 -m venv .venv && .venv/bin/snakemake --cores 2 \\",
        "       --configfile presets/demo.yaml && .venv/bin/snakemake c",
        "   ```",
        "```",
        ".venv/bin/snakemake e",
        "```",
        "```python",
        ".venv/bin/snakemake not-a-shell-command",
        "```",
        "A span over two lines: `.venv/bin/snakemake d",
        "--cores 3`.",
    ])
    assert commands(text) == [(1, ".venv/bin/snakemake a --cores 1"), (2, ".venv/bin/snakemake b --cores 2"),
                              (5, ".venv/bin/snakemake --cores 2 --configfile presets/demo.yaml"),
                              (5, ".venv/bin/snakemake c"), (9, ".venv/bin/snakemake e"),
                              (14, ".venv/bin/snakemake d --cores 3")]
    assert dry_run(arguments(".venv/bin/snakemake --configfile <preset> --report r.html")) == (
        ["--configfile", "presets/demo.yaml", "-n"], "r.html")
    with pytest.raises(AssertionError, match="PLACEHOLDERS"):
        arguments(".venv/bin/snakemake --configfile <another>")

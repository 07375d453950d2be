"""The command line as an operator meets it: --help exits 0 everywhere,
errors are one `error:` line plus a `hint:` line, tracebacks only with --debug."""
from __future__ import annotations

import pytest

from imagekit import __version__
from imagekit.cli import COMMANDS
from tests.util import run_cli

SEED = ("dbimage-make", "dbimage-upload", "dbflavor-show", "dbflavor-change", "dbflavor-upload")


def test_top_level_help_lists_every_command():
    proc = run_cli("--help")
    assert proc.returncode == 0
    for name in COMMANDS:
        assert name in proc.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_subcommand_help_exits_zero(command):
    proc = run_cli(command, "--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: imagekit " + command)


@pytest.mark.parametrize("program", SEED)
def test_original_commands_help_exits_zero(program):
    proc = run_cli("--help", program=program)
    assert proc.returncode == 0, proc.stderr
    assert "usage:" in proc.stdout


def test_version():
    proc = run_cli("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"imagekit {__version__}"


def test_error_is_one_line_with_a_hint(tmp_path):
    proc = run_cli("inspect", str(tmp_path / "missing.qcow2"))
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert lines[0].startswith("error: ") and "missing.qcow2" in lines[0]
    assert lines[1].startswith("hint: ")
    assert "Traceback" not in proc.stderr


def test_debug_adds_the_traceback(tmp_path):
    proc = run_cli("--debug", "inspect", str(tmp_path / "missing.qcow2"))
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr and "ImageError" in proc.stderr


def test_global_options_also_after_the_command(tmp_path):
    proc = run_cli("inspect", "--debug", str(tmp_path / "missing.qcow2"))
    assert "Traceback" in proc.stderr


def test_usage_error_exits_2():
    proc = run_cli("inspect")
    assert proc.returncode == 2
    assert "error:" in proc.stderr

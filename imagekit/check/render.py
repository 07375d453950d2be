"""How check results are shown: a rich table per image on a terminal, plain
lines when piped, JSON (schema imagekit.check/1) with --json; and
docs/checks.md, generated from the check table."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from imagekit.check.findings import CHECKS, Severity
from imagekit.check.offline import human
from imagekit.check.runner import ImageResult

SCHEMA = "imagekit.check/1"
_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow"}


def to_json(results: Sequence[ImageResult]) -> dict[str, Any]:
    errors = sum(len(r.errors) for r in results)
    return {"schema": SCHEMA, "ok": errors == 0, "errors": errors,
            "warnings": sum(len(r.warnings) for r in results),
            "images": [r.to_json() for r in results]}


def _headline(r: ImageResult) -> str:
    s = r.summary
    if not r.guest_checked:
        return "guest not checked" + (f" ({s['refused']})" if s.get("refused") else "")
    ag = s.get("agent") or {}
    parts = [f"agent trove {ag.get('version') or '?'} ({ag.get('release') or 'release ?'})"
             if ag.get("installed") else "no agent"]
    if s.get("style"):
        parts.append(f"{s['style']} style")
    parts.append(f"guest user {s.get('guest_user')}")
    if s.get("root_free") is not None:
        parts.append(f"{human(s['root_free'])} free")
    if s.get("glance_image"):
        parts.append(f"Glance image {s['glance_image']}")
    return ", ".join(parts)


def render(results: Sequence[ImageResult], console: Console) -> None:
    term = console.is_terminal
    for r in results:
        head = f"{r.path}: {_headline(r)}"
        if term:
            console.print(Text(head, style="bold"))
        else:
            console.print(head, markup=False)
        if not r.findings:
            console.print("  no findings", markup=False, style="green" if term else None)
            continue
        if term:
            t = Table(show_lines=False, expand=False)
            for col in ("severity", "id", "message", "fix"):
                t.add_column(col, overflow="fold")
            for f in r.findings:
                t.add_row(Text(f.severity.value, style=_STYLE[f.severity]), f.id, f.message, f.fix)
            console.print(t)
        else:
            for f in r.findings:
                console.print(f"  {f.severity.value}: {f.id}: {f.message}", markup=False)
                console.print(f"    fix: {f.fix}", markup=False)
    errors = sum(len(r.errors) for r in results)
    warnings = sum(len(r.warnings) for r in results)
    tail = f"{errors} error(s), {warnings} warning(s) in {len(results)} image(s)"
    if term:
        console.print(Text(tail, style="bold red" if errors else "bold green"))
    else:
        console.print(tail, markup=False)


def checks_markdown() -> str:
    """docs/checks.md: every finding id, what it means and the fix."""
    out = ["# imagekit check: the findings", "",
           "Generated from `imagekit/check/findings.py` (`python -m imagekit.check.render "
           "> docs/checks.md`); a test fails when this file is stale.", "",
           "Every finding has a stable id, a severity and a one-line message naming what was "
           "found, plus a fix. `imagekit check` exits with status 4 when at least one finding "
           "is an error. Checks marked *cloud* run only with `--os-cloud`. P1-P20 refer to "
           "the numbered causes of instances stuck in BUILD in the project's Trove research "
           "notes (trove-anchors §6).", "",
           "## JSON output", "",
           "`imagekit check --json` prints one object, schema `imagekit.check/1` (fields are "
           "only ever added):", "",
           "```",
           '{"schema": "imagekit.check/1", "ok": false, "errors": 1, "warnings": 0,',
           ' "images": [{"path": "/abs/image.qcow2", "guest_checked": true, "errors": 1,',
           '             "warnings": 0,',
           '             "summary": {"agent": {"installed": true, "version": "26.0.0",',
           '                                   "release": "2026.2", "unit": "guest-agent.service",',
           '                                   "enabled": true},',
           '                         "cloud_init_datasources": ["ConfigDrive", "OpenStack"],',
           '                         "guest_user": "ubuntu", "style": "native",',
           '                         "root_free": 458227712, "virtual_size": 536870912,',
           '                         "format": "qcow2"},',
           '             "findings": [{"id": "agent-unit-disabled", "severity": "error",',
           '                           "message": "...", "fix": "..."}]}]}',
           "```", "",
           "`guest_checked` is false when the file was not opened (see `summary.refused`); "
           "with `--os-cloud` the summary also has `cloud`, `glance_image` and "
           "`datastore_version`.", "",
           "## The checks", "",
           "| id | severity | area | what |", "| --- | --- | --- | --- |"]
    for c in CHECKS.values():
        out.append(f"| [`{c.id}`](#{c.id}) | {c.severity.value} | {c.area}"
                   f"{' (cloud)' if c.cloud else ''} | {c.title} |")
    out.append("")
    for c in CHECKS.values():
        out += [f"### {c.id}", "",
                f"**{c.severity.value}**{', needs a cloud' if c.cloud else ''} — {c.title}.", "",
                c.why, "", f"Fix: {c.fix}.", ""]
    return "\n".join(out)


if __name__ == "__main__":
    print(checks_markdown(), end="")

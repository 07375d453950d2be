"""Line-preserving edits of oslo.config-style INI files (trove-guestagent.conf).

Only the lines of the key being set or removed change: comments, blank
lines, ordering and every other key stay as they were. Keys are matched
exactly within their section; `[DEFAULT]` is a section like any other."""
from __future__ import annotations

import re
from dataclasses import dataclass

_SECTION = re.compile(r"^\s*\[([^\]]+)\]\s*$")
_KEY = re.compile(r"^([^\s#;=][^=]*?)\s*=(.*)$")


@dataclass(frozen=True)
class Entry:
    section: str
    key: str
    value: str
    line: int           # 0-based line number


class IniSyntaxError(ValueError):
    def __init__(self, line: int, text: str) -> None:
        super().__init__(f"line {line + 1}: {text.strip()[:60]!r} is neither a [section], a "
                         "key = value line nor a comment")
        self.line = line


def parse(text: str) -> list[Entry]:
    """Every `key = value` with its section; raises IniSyntaxError on junk.
    Keys before any section header belong to section ''."""
    out: list[Entry] = []
    section = ""
    for i, line in enumerate(text.splitlines()):
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        m = _SECTION.match(line)
        if m:
            section = m.group(1).strip()
            continue
        if line[:1].isspace() and out:     # continuation of a multi-line value
            continue
        m = _KEY.match(line)
        if not m:
            raise IniSyntaxError(i, line)
        out.append(Entry(section, m.group(1).strip(), m.group(2).strip(), i))
    return out


def sections(text: str) -> list[str]:
    found = []
    for line in text.splitlines():
        m = _SECTION.match(line)
        if m and m.group(1).strip() not in found:
            found.append(m.group(1).strip())
    return found


def get(text: str, section: str, key: str) -> str | None:
    vals = [e.value for e in parse(text) if e.section == section and e.key == key]
    return vals[0] if vals else None


def _section_span(lines: list[str], section: str) -> tuple[int, int] | None:
    """[header line, end) of the first occurrence of `section`."""
    start = None
    for i, line in enumerate(lines):
        m = _SECTION.match(line)
        if m:
            if start is not None:
                return start, i
            if m.group(1).strip() == section:
                start = i
    return (start, len(lines)) if start is not None else None


def set_value(text: str, section: str, key: str, value: str) -> str:
    """`key = value` in [section]: the first existing line replaced (others of
    the same key removed), else added after the section's last key, else a
    new section at the end."""
    lines = text.splitlines()
    trailing_nl = text.endswith("\n") or not text
    new = f"{key} = {value}"
    entries = [e for e in parse(text) if e.section == section and e.key == key]
    if entries:
        lines[entries[0].line] = new
        for e in reversed(entries[1:]):
            del lines[e.line]
    else:
        span = _section_span(lines, section)
        if span is None:
            while lines and not lines[-1].strip():
                lines.pop()
            if lines:
                lines.append("")
            lines += [f"[{section}]", new]
        else:
            start, end = span
            last = start
            for i in range(start + 1, end):
                if lines[i].strip() and not lines[i].lstrip().startswith(("#", ";")):
                    last = i
            lines.insert(last + 1, new)
    return "\n".join(lines) + ("\n" if trailing_nl else "")


def unset_value(text: str, section: str, key: str) -> str:
    """Remove every `key = ...` line of [section] (with its continuation lines)."""
    lines = text.splitlines()
    drop: set[int] = set()
    for e in parse(text):
        if e.section == section and e.key == key:
            drop.add(e.line)
            j = e.line + 1
            while j < len(lines) and lines[j][:1].isspace() and lines[j].strip():
                drop.add(j)
                j += 1
    if not drop:
        return text
    kept = [ln for i, ln in enumerate(lines) if i not in drop]
    return "\n".join(kept) + ("\n" if text.endswith("\n") else "")


def render(data: dict[str, dict[str, object]]) -> str:
    """A new INI text from {section: {key: value}} (DEFAULT first; bools as
    true/false, lists comma-separated)."""
    order = sorted(data, key=lambda s: (s != "DEFAULT",))
    out: list[str] = []
    for sec in order:
        if out:
            out.append("")
        out.append(f"[{sec}]")
        for k, v in (data[sec] or {}).items():
            if isinstance(v, bool):
                v = "true" if v else "false"
            elif isinstance(v, (list, tuple)):
                v = ",".join(str(x) for x in v)
            elif v is None:
                v = ""
            out.append(f"{k} = {v}")
    return "\n".join(out) + "\n"

"""How the shell prints: rich (tables, colours, syntax-highlighted config
files, a pager) when stdout is a terminal; plain text a script can parse
when it is not. Errors go to stderr, one line each."""
from __future__ import annotations

import io
import os
import shlex
import subprocess
import sys
from collections.abc import Sequence

from rich.console import Console
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from imagekit import ui

# Lexers for guest files whose names pygments does not know.
LEXER_BY_NAME = {
    "sshd_config": "ini", "ssh_config": "ini", "fstab": "ini", "sudoers": "ini",
    "os-release": "bash", "environment": "bash", "cloud.cfg": "yaml",
}


class Output:
    def __init__(self, console: Console | None = None, errors: Console | None = None) -> None:
        self.console = console or ui.out
        self.errors = errors or ui.err

    @property
    def rich(self) -> bool:
        return self.console.is_terminal

    # -- text ------------------------------------------------------------------
    def line(self, text: str = "", style: str | None = None) -> None:
        if self.rich and style:
            self.console.print(Text(text, style=style), emoji=False)
        else:
            self.console.print(text, markup=False, highlight=False, emoji=False)

    def styled(self, text: Text) -> None:
        self.console.print(text if self.rich else text.plain, markup=False, highlight=False,
                           emoji=False)

    def raw(self, data: bytes) -> None:
        """Bytes exactly as they are (cat of a file into a pipe)."""
        self.console.file.flush()
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()

    def error(self, message: str) -> None:
        self.errors.print(f"error: {message}", markup=False, highlight=False, emoji=False,
                          style="red" if self.errors.is_terminal else None)

    def warn(self, message: str) -> None:
        self.errors.print(f"warning: {message}", markup=False, highlight=False, emoji=False,
                          style="yellow" if self.errors.is_terminal else None)

    def note(self, message: str) -> None:
        """Session messages (startup, saved...) on stderr."""
        self.errors.print(message, markup=False, highlight=False, emoji=False,
                          style="dim" if self.errors.is_terminal else None)

    # -- tables ----------------------------------------------------------------
    def table(self, columns: Sequence[str], rows: Sequence[Sequence[str]],
              title: str | None = None) -> None:
        """A rich table on a terminal; aligned columns without a header when
        piped (ready for awk and cut)."""
        if self.rich:
            t = Table(title=Text(title) if title else None, title_justify="left")
            for c in columns:
                t.add_column(c, overflow="fold")
            for r in rows:
                t.add_row(*(Text(str(x)) for x in r))
            self.console.print(t)
            return
        if title:
            self.line(f"# {title}")
        widths = [max((len(str(r[i])) for r in rows), default=0) for i in range(len(columns))]
        for r in rows:
            cells = [str(x).ljust(widths[i]) if i < len(r) - 1 else str(x) for i, x in enumerate(r)]
            self.line("  ".join(cells).rstrip())

    def grid(self, rows: Sequence[Sequence[str | Text]], right: Sequence[int] = ()) -> None:
        """Borderless aligned columns (ls -l, df); columns in `right` are
        right-aligned; cells may be styled Text on a terminal."""
        if self.rich:
            t = Table(box=None, show_header=False, padding=(0, 1), pad_edge=False)
            for i in range(max((len(r) for r in rows), default=0)):
                t.add_column(justify="right" if i in right else "left", no_wrap=True)
            for r in rows:
                t.add_row(*(c if isinstance(c, Text) else Text(c) for c in r))
            self.console.print(t)
            return
        plain = [[c.plain if isinstance(c, Text) else c for c in r] for r in rows]
        ncols = max((len(r) for r in plain), default=0)
        widths = [max((len(r[i]) for r in plain if i < len(r)), default=0) for i in range(ncols)]
        for r in plain:
            cells = [c.rjust(widths[i]) if i in right else
                     (c.ljust(widths[i]) if i < len(r) - 1 else c) for i, c in enumerate(r)]
            self.line(" ".join(cells).rstrip())

    def pairs(self, rows: Sequence[tuple[str, str]], title: str | None = None) -> None:
        """key/value lines: a borderless two-column table on a terminal."""
        if self.rich:
            t = Table(title=Text(title) if title else None, show_header=False, box=None,
                      title_justify="left")
            t.add_column(style="bold")
            t.add_column(overflow="fold")
            for k, v in rows:
                t.add_row(Text(k), Text(v))
            self.console.print(t)
            return
        if title:
            self.line(f"# {title}")
        width = max((len(k) for k, _ in rows), default=0)
        for k, v in rows:
            self.line(f"{k.ljust(width)}  {v}".rstrip())

    # -- files -----------------------------------------------------------------
    def highlighted(self, path: str, text: str) -> Syntax:
        name = path.rsplit("/", 1)[-1]
        lexer = LEXER_BY_NAME.get(name) or Syntax.guess_lexer(path, text)
        return Syntax(text, lexer, theme="ansi_dark", word_wrap=False, background_color="default")

    def file(self, path: str, data: bytes) -> None:
        """A file's content: syntax-highlighted on a terminal, the exact
        bytes when piped."""
        if not self.rich:
            self.raw(data)
            return
        self.console.print(self.highlighted(path, data.decode(errors="replace")))

    def page(self, path: str, data: bytes) -> None:
        """Through $PAGER (default `less -R`) on a terminal; like `file` when piped."""
        if not self.rich or not sys.stdin.isatty():
            self.file(path, data)
            return
        buf = io.StringIO()
        Console(file=buf, force_terminal=True, color_system=self.console.color_system,
                width=self.console.width).print(self.highlighted(path, data.decode(errors="replace")))
        argv = shlex.split(os.environ.get("PAGER") or "less -R")
        env = {**os.environ, "LESS": os.environ.get("LESS", "FRX")}
        try:
            subprocess.run(argv, input=buf.getvalue().encode(), env=env, check=False)
        except FileNotFoundError:
            self.console.print(self.highlighted(path, data.decode(errors="replace")))

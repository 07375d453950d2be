"""Man pages generated from the argparse parsers with argparse-manpage.

`python -m imagekit.cli.manpage man` writes them into man/; the test suite
regenerates them in memory and fails when man/ is stale."""
from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

from argparse_manpage.manpage import Manpage

from imagekit import __version__

# (page name, "module:function returning an ArgumentParser", one-line description)
PAGES: list[tuple[str, str, str]] = [
    ("imagekit", "imagekit.cli:build_parser",
     "build, customize, check, inspect and upload OpenStack Trove guest images"),
]
# Pages contributed by other modules (seed commands, the shell); optional
# until those modules define their parsers.
OPTIONAL_PAGES: list[tuple[str, str, str]] = [
    ("dbimage-make", "imagekit.cli.seed_make:build_parser",
     "build a Trove guest image (original dbimage-make options)"),
    ("dbimage-upload", "imagekit.cli.seed_upload:build_parser",
     "re-target and upload a Trove guest image (original dbimage-upload options)"),
    ("dbflavor-show", "imagekit.cli.seed_flavor:show_parser",
     "show the database flavors (original dbflavor-show options)"),
    ("dbflavor-change", "imagekit.cli.seed_flavor:change_parser",
     "change a database flavor (original dbflavor-change options)"),
    ("dbflavor-upload", "imagekit.cli.seed_flavor:upload_parser",
     "create the database flavors in Nova (original dbflavor-upload options)"),
    ("imagekit-shell", "imagekit.shell.commands:manpage_parser",
     "the commands of the interactive image inspection shell"),
]
DATE = "2026-11-22"


def _factory(spec: str):
    mod, func = spec.split(":")
    try:
        return getattr(importlib.import_module(mod), func)
    except (ImportError, AttributeError):
        return None


def render_all() -> dict[str, str]:
    """{file name: page text} for every page that can be built."""
    os.environ["COLUMNS"] = "80"  # argparse wraps help text by terminal width
    pages = {}
    for name, spec, desc in PAGES + OPTIONAL_PAGES:
        factory = _factory(spec)
        if factory is None:
            continue
        parser = factory()
        parser.prog = name
        page = Manpage(parser, _data={"date": DATE, "project_name": "imagekit",
                                      "version": __version__, "description": desc,
                                      "manual_title": "imagekit manual",
                                      "url": "https://github.com/imagekit/imagekit"})
        pages[f"{name}.1"] = str(page)
    return pages


def main(argv: list[str]) -> int:
    out = Path(argv[0] if argv else "man")
    out.mkdir(exist_ok=True)
    for fname, text in render_all().items():
        (out / fname).write_text(text)
        print(f"wrote {out / fname}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

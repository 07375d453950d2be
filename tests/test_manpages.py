"""man/ must match what the parsers generate (run `make man` after changing
options)."""
from __future__ import annotations

from imagekit.cli import manpage
from tests.util import REPO


def test_man_pages_are_current(monkeypatch):
    monkeypatch.delenv("IMAGEKIT_DEVCLOUD_DIR", raising=False)   # help shows the default folder
    pages = manpage.render_all()
    assert "imagekit.1" in pages
    stale = []
    for name, text in pages.items():
        f = REPO / "man" / name
        if not f.exists() or f.read_text() != text:
            stale.append(name)
    assert not stale, f"stale man pages {stale}: run 'make man' and commit man/"


def test_main_page_documents_every_command():
    text = manpage.render_all()["imagekit.1"]
    for word in ("inspect", "doctor", "customize", "upload", "flavor", "check", "shell",
                 "devcloud", "make"):
        assert word in text

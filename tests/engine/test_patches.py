"""Patches tried on host-side copies: all or nothing, already-applied
patches skipped, failures name the patch, the file and the hunk; the shipped
patches apply to the real Trove 26.0.0 tree."""
from __future__ import annotations

import pytest

from imagekit import paths
from imagekit.engine import patches
from imagekit.errors import GuestError
from tests.engine.conftest import BAD_PATCHES, STANDIN_PATCHES
from tests.imagefactory import AGENT_FILES

SERVICE = "trove/guestagent/datastore/postgres/service.py"
GOOD = patches.release_set("2026.2", STANDIN_PATCHES)


def originals():
    return {SERVICE: AGENT_FILES[SERVICE].encode()}


def test_stand_in_set_applies_in_order():
    assert [p.name for p in GOOD] == ["0001-standin-timeout.patch", "0002-standin-quote.patch"]
    parsed = [patches.parse(p) for p in GOOD]
    assert parsed[0].targets == (SERVICE,)
    result = patches.trial(parsed, originals(), "/opt/agent")
    assert result.status == (("0001-standin-timeout.patch", "applied"),
                             ("0002-standin-quote.patch", "applied"))
    new = result.new[SERVICE].decode()
    assert "STATEMENT_TIMEOUT = '30s'" in new and 'CREATE USER "%s"' in new


def test_already_applied_patches_are_skipped():
    parsed = [patches.parse(p) for p in GOOD]
    once = patches.trial(parsed, originals(), "/opt/agent").new[SERVICE]
    again = patches.trial(parsed, {SERVICE: once}, "/opt/agent")
    assert [s for _, s in again.status] == ["already applied", "already applied"]
    assert again.new == {}


def test_failure_names_patch_file_and_hunk():
    bad = patches.parse(next(BAD_PATCHES.glob("*.patch")))
    with pytest.raises(GuestError) as err:
        patches.trial([patches.parse(GOOD[0]), bad], originals(), "/opt/agent")
    msg = err.value.message
    assert "0001-second-hunk-fails.patch" in msg and f"/opt/agent/{SERVICE}" in msg
    assert "hunk #2 FAILED" in msg and "nothing was changed" in msg


def test_missing_file_is_named():
    with pytest.raises(GuestError, match="is not in the image's guest-agent tree"):
        patches.trial([patches.parse(GOOD[0])], {SERVICE: None}, "/opt/agent")


def test_shipped_patches_apply_to_trove_26(trove26_tree):
    shipped = patches.release_set("2026.2", paths.patches_dir())
    assert shipped, "patches/2026.2 is empty"
    parsed = [patches.parse(p) for p in shipped]
    files = {rel: (trove26_tree / rel).read_bytes() for p in parsed for rel in p.targets}
    result = patches.trial(parsed, files, str(trove26_tree))
    assert all(s == "applied" for _, s in result.status)
    cfg = result.new["trove/common/cfg.py"].decode()
    mariadb = cfg[cfg.index("mariadb_opts = ["):]
    ignore = mariadb[mariadb.index("cfg.ListOpt('ignore_dbs'"):][:200]
    assert "'sys'" in ignore
    # [mysql] has the same block with 'sys' already: a second run must still
    # see the patch as applied (not apply it elsewhere, not fail)
    again = patches.trial(parsed, {**files, **result.new}, str(trove26_tree))
    assert [s for _, s in again.status] == ["already applied"] * len(parsed) and not again.new

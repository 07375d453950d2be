"""`imagekit check` on a good tiny image and on copies with one seeded fault
each (image factory variants, qcow2-level faults, faults made through the
customization engine): every fault image gives exactly its expected
finding(s), the good one none. All images go through ONE `imagekit check`
call (one appliance launch). A fault repaired by running its finding's own
fix (`imagekit customize ...`) checks clean."""
from __future__ import annotations

import hashlib
import json
import shlex
from pathlib import Path

import pytest

from imagekit import paths
from tests.check import faults
from tests.util import fingerprint, run_cli

pytestmark = pytest.mark.guestfs


@pytest.fixture(scope="module")
def cli_run(fault_images, file_fault_images, engine_fault_images):
    names = list(faults.FACTORY) + list(file_fault_images) + list(faults.ENGINE)
    paths = ([fault_images[n] for n in faults.FACTORY] +
             [p for p, _ in file_fault_images.values()] +
             [engine_fault_images[n] for n in faults.ENGINE])
    before = [fingerprint(p) for p in paths]
    proc = run_cli("check", "--json", *map(str, paths))
    after = [fingerprint(p) for p in paths]
    report = json.loads(proc.stdout) if proc.stdout.strip() else None
    by_name = dict(zip(names, report["images"], strict=True)) if report else {}
    return proc, report, by_name, before == after


def test_one_launch_and_exit_status_4(cli_run):
    proc, report, _, unchanged = cli_run
    assert report is not None, proc.stderr
    assert proc.returncode == 4, proc.stderr
    assert proc.stderr.count("starting the appliance") == 1
    last = proc.stderr.strip().splitlines()
    assert last[-2].startswith("error: ") and "error(s) in" in last[-2]
    assert last[-1].startswith("hint: ")
    assert report["schema"] == "imagekit.check/1" and report["ok"] is False
    assert unchanged, "imagekit check modified an image"


def _ids(entry: dict) -> list[str]:
    return [f["id"] for f in entry["findings"]]


@pytest.mark.parametrize("name", list(faults.FACTORY))
def test_factory_fault_gives_exactly_its_finding(cli_run, name):
    _, report, by_name, _ = cli_run
    assert report is not None
    entry = by_name[name]
    assert entry["guest_checked"]
    assert _ids(entry) == list(faults.FACTORY[name].expect), entry["findings"]
    for f in entry["findings"]:
        assert f["message"] and "\n" not in f["message"] and f["fix"]


@pytest.mark.parametrize("name", ["backing-inside", "backing-outside", "data-file", "truncated",
                                  "corrupt", "blank"])
def test_file_fault_gives_exactly_its_finding(cli_run, file_fault_images, name):
    _, report, by_name, _ = cli_run
    assert report is not None
    entry = by_name[name]
    assert _ids(entry) == list(file_fault_images[name][1]), entry["findings"]
    # the guest of an overlay whose backing file is in its own folder is still read
    opened = name in ("backing-inside", "data-file", "blank")
    assert entry["guest_checked"] == (opened and name != "blank")
    if not opened:
        assert entry["summary"]["refused"]


@pytest.mark.parametrize("name", list(faults.ENGINE))
def test_engine_fault_gives_exactly_its_finding(cli_run, name):
    _, report, by_name, _ = cli_run
    assert report is not None
    entry = by_name[name]
    assert _ids(entry) == list(faults.ENGINE[name].expect), entry["findings"]


def _apply_fix(src, fix: str) -> Path:
    """The image made by running the finding's own fix (`imagekit customize
    IMAGE -o OUT ...`), cached by the fix text."""
    prefix = "imagekit customize IMAGE -o OUT"
    assert prefix in fix, fix
    args = shlex.split(fix.split(prefix, 1)[1])
    key = hashlib.sha256(f"{src.name}|{fix}".encode()).hexdigest()[:16]
    target = paths.cache_dir() / "test-images" / f"check-fixed-{key}.qcow2"
    if not target.exists():
        tmp = target.with_name(f"building-{target.name}")
        proc = run_cli("customize", str(src), "-o", str(tmp), *args)
        assert proc.returncode == 0, proc.stderr
        tmp.replace(target)
        tmp.with_name(tmp.name + ".manifest.json").unlink(missing_ok=True)
    return target


def test_good_images_of_every_layout_pass_with_exit_0(cli_run, fault_images):
    # the human output and exit 0 when there is no error: the good image (the
    # 2026.2 agent, container style), the Ussuri agent's native twin, the good
    # image in the other layouts (PReP + root on p2, separate /boot, LVM, xfs,
    # ppc64le), and the agent-disabled image repaired by running its finding's fix
    _, _, by_name, _ = cli_run
    fix = by_name["agent-disabled"]["findings"][0]["fix"]
    paths_ = [fault_images["good"], fault_images["native-good"]] + \
        [fault_images[n] for n in faults.LAYOUTS] + [_apply_fix(fault_images["agent-disabled"], fix)]
    proc = run_cli("check", *map(str, paths_))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr.count("starting the appliance") == 1
    assert proc.stdout.count("no findings") == len(paths_)
    assert proc.stdout.count("native style") == 1
    assert proc.stdout.count("container style") == len(paths_) - 1
    assert f"0 error(s), 0 warning(s) in {len(paths_)} image(s)" in proc.stdout


def test_warnings_alone_keep_exit_0(cli_run):
    _, _, by_name, _ = cli_run
    for name in ("native-beside-docker", "stale-ifupdown"):
        assert [f["severity"] for f in by_name[name]["findings"]] == ["warning"], name
    assert by_name["db-image-missing"]["findings"][0]["severity"] == "error"

"""Small image archives made with tarfile (and umoci, for a valid OCI image)
for the archive tests: no docker, no registry."""
from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile
from pathlib import Path


def _add(t: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    t.addfile(info, io.BytesIO(data))


def _empty_layer() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        _add(t, "hello.txt", b"hello\n")
    return buf.getvalue()


def docker_archive(path: Path, *, arch: str = "amd64", tags: list[str] | None = None) -> Path:
    """A docker-archive as `docker save` writes it (one image, one layer)."""
    layer = _empty_layer()
    layer_id = hashlib.sha256(layer).hexdigest()
    config = json.dumps({"architecture": arch, "os": "linux",
                         "config": {"Cmd": ["true"]},
                         "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_id}"]}}).encode()
    cfg_id = hashlib.sha256(config).hexdigest()
    manifest = [{"Config": f"{cfg_id}.json", "RepoTags": tags if tags is not None else [],
                 "Layers": [f"{layer_id}/layer.tar"]}]
    with tarfile.open(path, "w") as t:
        _add(t, f"{cfg_id}.json", config)
        _add(t, f"{layer_id}/layer.tar", layer)
        _add(t, "manifest.json", json.dumps(manifest).encode())
        if tags:
            repo, tag = tags[0].rsplit(":", 1)
            _add(t, "repositories", json.dumps({repo: {tag: layer_id}}).encode())
    return path


def oci_archive(path: Path, work: Path, *, arch: str = "amd64", tag: str = "15") -> Path:
    """A real OCI image archive (umoci layout, tarred) with one small layer."""
    layout = work / "layout"
    layer = work / "layer.tar"
    layer.write_bytes(_empty_layer())
    for argv in (["umoci", "init", "--layout", str(layout)],
                 ["umoci", "new", "--image", f"{layout}:{tag}"],
                 ["umoci", "raw", "add-layer", "--image", f"{layout}:{tag}", str(layer)],
                 ["umoci", "config", "--image", f"{layout}:{tag}", "--architecture", arch,
                  "--os", "linux", "--config.cmd", "true"]):
        subprocess.run(argv, check=True, capture_output=True)
    with tarfile.open(path, "w") as t:
        for f in sorted(layout.rglob("*")):
            t.add(f, arcname=str(f.relative_to(layout)), recursive=False)
    return path


def read_docker_archive(path: Path) -> tuple[list[dict], dict]:
    """(manifest.json, the first image's config), read with plain tarfile."""
    with tarfile.open(path) as t:
        names = {m.name.removeprefix("./"): m for m in t.getmembers()}
        manifest = json.load(t.extractfile(names["manifest.json"]))
        config = json.load(t.extractfile(names[manifest[0]["Config"]]))
    return manifest, config

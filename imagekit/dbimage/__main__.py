"""`python -m imagekit.dbimage`: build or resolve a database image by hand.

    python -m imagekit.dbimage build postgresql 15 -o postgres-15.tar
    python -m imagekit.dbimage resolve FILE|REF|distro postgresql 15
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from imagekit import ui
from imagekit.dbimage import archive, build_distro, resolve
from imagekit.errors import ImagekitError


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m imagekit.dbimage",
                                description="database container images for Trove guests")
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build a database image from the distribution")
    r = sub.add_parser("resolve", help="resolve a --db-image value (distro, file, reference)")
    r.add_argument("spec")
    for s in (b, r):
        s.add_argument("db", help="postgresql or mariadb")
        s.add_argument("version", help="the datastore version, e.g. 15")
        s.add_argument("--image-name", help="the agent's docker_image (default: official name)")
        s.add_argument("--release", default="bookworm")
        s.add_argument("--arch", default="amd64", help="Debian architecture (amd64, ppc64el)")
        s.add_argument("-o", "--output", type=Path, help="also copy the archive to this file")
        s.add_argument("--json", action="store_true", help="print the result as JSON")
        s.add_argument("-v", "--verbose", action="count", default=0)
    a = p.parse_args(argv)
    ui.configure(verbose=a.verbose)
    try:
        if a.cmd == "build":
            image = build_distro(a.db, a.version, image_name=a.image_name, release=a.release,
                                 arch=a.arch)
        else:
            image = resolve(a.spec, db=a.db, version=a.version, image_name=a.image_name,
                            release=a.release, arch=a.arch)
        if a.output:
            archive.copy_atomic(image.archive, a.output)
        if a.json:
            print(json.dumps(image.to_json(), indent=2))
        else:
            print(f"{image.ref}  {image.digest}  {image.arch}  {image.size / 1e6:.0f} MB\n"
                  f"  {image.archive}\n  {image.source}")
    except ImagekitError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())

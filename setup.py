"""Packaging for imagekit: OpenStack Trove guest images, built with DIB and
maintained through libguestfs."""
import re
from pathlib import Path

from setuptools import find_namespace_packages, setup

HERE = Path(__file__).resolve().parent
VERSION = re.search(r'^__version__ = "([^"]+)"',
                    (HERE / "imagekit" / "__init__.py").read_text(), re.M).group(1)

setup(
    name="imagekit",
    version=VERSION,
    description="Build, customize, check and upload OpenStack Trove guest images",
    long_description=(HERE / "README.md").read_text() if (HERE / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.11",
    # Namespace discovery: a folder without __init__.py (a data folder, or a
    # new subpackage) is still shipped instead of silently left out.
    packages=find_namespace_packages(include=["imagekit", "imagekit.*"],
                                     exclude=["*.__pycache__"]),
    include_package_data=True,
    # What the package reads at run time (importlib.resources), by package.
    package_data={"imagekit": ["data/*", "data/**/*"],
                  "imagekit.dbimage.recipes": ["*"],
                  "imagekit.engine.data": ["*"],
                  "imagekit.cloud.devcloud": ["*.txt"],
                  "imagekit.cloud.devcloud.templates": ["*"]},
    # guestfs (the libguestfs binding) comes from Debian's python3-guestfs;
    # the venv is created with --system-site-packages to see it.
    install_requires=[
        "openstacksdk>=4.0",
        "python-troveclient>=8.0",
        "diskimage-builder>=3.40",
        "sh>=2.0",
        "rich>=13.0",
        "argparse-manpage>=4.5",
        "PyYAML>=6.0",
    ],
    extras_require={
        "test": ["pytest>=8", "pexpect>=4.9", "ruff>=0.6"],
    },
    entry_points={
        "console_scripts": [
            "imagekit = imagekit.cli:main",
            "dbimage-make = imagekit.cli.seed_make:main",
            "dbimage-upload = imagekit.cli.seed_upload:main",
            "dbflavor-show = imagekit.cli.seed_flavor:show_main",
            "dbflavor-change = imagekit.cli.seed_flavor:change_main",
            "dbflavor-upload = imagekit.cli.seed_flavor:upload_main",
        ],
    },
    classifiers=[
        "Environment :: Console",
        "Operating System :: POSIX :: Linux",
        "Programming Language :: Python :: 3",
        "Topic :: System :: Systems Administration",
    ],
)

"""The wheel carries what an operator needs beside the code (issue 18, item 5): the example
configuration, the systemd unit, README.md and docs/*.md, read at run time from the wheel.

The wheel is built for real, offline: pip without an index and without build isolation, with
the setuptools of this environment (the test extras pin one that knows PEP 639). It runs from a
copy of the source files, so nothing is written into the checkout; about 10 s.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ["pyproject.toml", "setup.py", "README.md", "LICENSE", "config", "systemd", "docs",
           "gateway", "classifiers", "archive"]
SHIPPED = ["README.md", "config/commgate.example.toml", "systemd/commgate.service",
           *(f"docs/{p.name}" for p in sorted((ROOT / "docs").glob("*.md")))]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "src"
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns(
                "__pycache__", "*.pyc", "screenshots"))
        else:
            source.mkdir(exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps",
                           "--no-index", "--no-build-isolation", "-w", str(tmp / "dist")],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (built,) = (tmp / "dist").glob("commgate-*.whl")
    return built


def project() -> dict[str, object]:
    return dict(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"])


def test_the_wheel_carries_the_example_the_unit_and_the_docs(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in SHIPPED:
        assert f"gateway/_data/{name}" in names, name
        assert zipfile.ZipFile(wheel).read(f"gateway/_data/{name}") == (ROOT / name).read_bytes()
    assert not [n for n in names if n.startswith("gateway/_data/") and n.endswith(".py")]


def test_the_wheel_states_its_licence_as_an_spdx_expression(wheel):
    archive = zipfile.ZipFile(wheel)
    info = f"commgate-{project()['version']}.dist-info"
    metadata = archive.read(f"{info}/METADATA").decode()
    assert f"License-Expression: {project()['license']}\n" in metadata
    assert "\nLicense: " not in metadata  # the deprecated field is gone
    assert archive.read(f"{info}/licenses/LICENSE") == (ROOT / "LICENSE").read_bytes()


def test_commands_run_from_the_wheel_read_its_own_files(wheel, tmp_path):
    """The wheel imported as it is (a zip on the path, ahead of the checkout): the example
    comes from inside it, and --version from its metadata."""
    def from_wheel(*args: str) -> str:
        done = subprocess.run([sys.executable, *args], cwd=tmp_path, env={"PYTHONPATH": str(wheel)},
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout

    located = from_wheel("-c", "from gateway.core.shipped import shipped_file, EXAMPLE_CONFIG; "
                               "print(shipped_file(EXAMPLE_CONFIG))")
    assert located.strip() == f"{wheel}/gateway/_data/config/commgate.example.toml"
    example = from_wheel("-m", "gateway.cli.main", "config", "example")
    assert example == (ROOT / "config" / "commgate.example.toml").read_text()
    assert from_wheel("-m", "gateway.cli.main", "--version") == f"commgate {project()['version']}\n"

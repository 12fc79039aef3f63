"""The package list for setuptools; everything else is in pyproject.toml.

Here because pyproject.toml cannot do one thing: install files that live outside the package
tree as package data. The example configuration (config/), the systemd unit (systemd/) and the
docs (README.md, docs/*.md) stay where an operator reading the repository finds them, one copy
each, and a wheel carries them as ``gateway/_data/...`` (read by gateway/core/shipped.py);
their file names are in pyproject.toml's package-data.
"""

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

# gateway._data is built from the repository's root (for README.md), its sub-packages from the
# folders of the same names.
SHIPPED = ["gateway._data", "gateway._data.config", "gateway._data.systemd", "gateway._data.docs"]


class BuildPy(build_py):
    """Takes no Python module from the shipped folders: the root's setup.py is not data."""

    def find_package_modules(self, package: str, package_dir: str) -> list[tuple[str, str, str]]:
        if package in SHIPPED:
            return []
        return list(super().find_package_modules(package, package_dir))


setup(
    packages=[*find_packages(include=["gateway*", "classifiers*", "archive*"]), *SHIPPED],
    package_dir={"gateway._data": "."},
    cmdclass={"build_py": BuildPy},
)

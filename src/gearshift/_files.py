"""Reading the data files that ship inside the package."""

from __future__ import annotations

import os

__all__ = ["read_package_file"]


def read_package_file(package: str, module_file: str, *parts: str) -> str:
    """The text of ``parts`` (a path relative to the package of ``module_file``). Read from
    beside the module -- :mod:`importlib.resources` costs a re-run more time than its work --
    and through ``importlib.resources`` only where the package is not plain files (a zip)."""
    try:
        with open(os.path.join(os.path.dirname(module_file), *parts), encoding="utf-8") as fh:
            return fh.read()
    except (FileNotFoundError, NotADirectoryError):
        from importlib import resources

        return resources.files(package).joinpath(*parts).read_text("utf-8")

"""Build of the optional C extensions ``gearshift.ingest._scan`` and ``gearshift.ingest._walk``
(everything else is in pyproject.toml). Without a C compiler the build still succeeds and
``gearshift.ingest.parse`` and ``gearshift.ingest.discovery`` use their pure Python paths."""

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class BuildExt(build_ext):
    def build_extensions(self) -> None:
        if self.compiler.compiler_type == "unix":
            for ext in self.extensions:
                ext.extra_compile_args = ["-O2", "-Wall", "-Wextra", *ext.extra_compile_args]
        super().build_extensions()


setup(
    ext_modules=[
        Extension(
            "gearshift.ingest._scan",
            sources=["src/gearshift/ingest/_scan.c"],
            optional=True,
        ),
        Extension(
            "gearshift.ingest._walk",
            sources=["src/gearshift/ingest/_walk.c"],
            optional=True,
        ),
    ],
    cmdclass={"build_ext": BuildExt},
)

"""Build of the optional C extension ``gearshift.ingest._scan`` (everything else is in
pyproject.toml). Without a C compiler the build still succeeds and ``gearshift.ingest.parse``
uses its pure Python path."""

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
        )
    ],
    cmdclass={"build_ext": BuildExt},
)

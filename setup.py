"""Compiles the gettext catalogs into the package when a wheel is built.

The catalogs are edited in `locales/` (outside the packages, where `make texts` keeps them);
a wheel carries them compiled as `flows/locales/<lang>/LC_MESSAGES/messages.mo`, which
`flows/i18n.py` reads first. Everything else about the build is in pyproject.toml.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SOURCE = Path(__file__).resolve().parent / "locales"


class BuildWithCatalogs(build_py):
    """`build_py`, then every `locales/*/LC_MESSAGES/messages.po` compiled into the package."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            # An editable install reads locales/ in place (flows/i18n.py falls back to it).
            return
        from babel.messages.mofile import write_mo
        from babel.messages.pofile import read_po

        for po_path in sorted(SOURCE.glob("*/LC_MESSAGES/messages.po")):
            language = po_path.parent.parent.name
            target = Path(self.build_lib, "flows", "locales", language, "LC_MESSAGES")
            target.mkdir(parents=True, exist_ok=True)
            with po_path.open("rb") as source:
                catalog = read_po(source, locale=language)
            with (target / "messages.mo").open("wb") as handle:
                write_mo(handle, catalog)


setup(cmdclass={"build_py": BuildWithCatalogs})

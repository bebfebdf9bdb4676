"""Char74K's characters from its real layout: `<root>/English/<subset>/Sample001 … Sample062`,
Sample001–010 the digits 0–9, 011–036 A–Z, 037–062 a–z (subset Fnt: computer fonts, Hnd:
hand-drawn, Img: photographed). Not downloadable through torchvision: unpack the archive there."""
from __future__ import annotations

import string
from pathlib import Path

from pegasus_lab.data.folder import ImageFolderSource
from pegasus_lab.errors import DataError

CHARACTERS = string.digits + string.ascii_uppercase + string.ascii_lowercase


class Char74kSource(ImageFolderSource):
    def __init__(self, root: str, subset: str = "Fnt") -> None:
        super().__init__(Path(root).expanduser() / "English" / subset)
        self.subset = subset

    def _load(self) -> None:
        if not self.root.exists():
            raise DataError(f"Char74K not found: expected {self.root}/Sample001 … Sample062 "
                            "(unpack the EnglishFnt archive under the data root)")
        super()._load()
        names = []
        for folder in self._classes:
            number = folder.removeprefix("Sample")
            if not number.isdigit() or not 1 <= int(number) <= len(CHARACTERS):
                raise DataError(f"unexpected Char74K class folder {folder!r} in {self.root}")
            names.append(CHARACTERS[int(number) - 1])
        self._classes = names

"""Char74K's English characters from the layout its archives unpack to: Sample001 … Sample062
(001–010 the digits 0–9, 011–036 A–Z, 037–062 a–z) under `<root>/English/Fnt` (EnglishFnt.tgz:
computer fonts), `<root>/English/Hnd/Img` (EnglishHnd.tgz: hand-drawn; its Trj/ strokes are not
images) or `<root>/English/Img/GoodImg/Bmp` (EnglishImg.tgz: photographed, the good ones; Msk/
and BadImag/ are left out). Not downloadable through torchvision: unpack the archive there."""
from __future__ import annotations

import string
from pathlib import Path

from pegasus_lab.data.folder import ImageFolderSource
from pegasus_lab.errors import DataError

CHARACTERS = string.digits + string.ascii_uppercase + string.ascii_lowercase
# each subset's sample folders, under <root>/English
SUBSETS = {"Fnt": "Fnt", "Hnd": "Hnd/Img", "Img": "Img/GoodImg/Bmp"}


class Char74kSource(ImageFolderSource):
    def __init__(self, root: str, subset: str = "Fnt") -> None:
        if subset not in SUBSETS:
            raise DataError(f"unknown Char74K subset {subset!r}; valid choices: {list(SUBSETS)}")
        super().__init__(Path(root).expanduser() / "English" / SUBSETS[subset])
        self.subset = subset

    def _containers(self):
        # the first thing any use reads (the cache key too): say what is missing, and the fix
        if not self.root.exists():
            raise DataError(f"Char74K not found: expected {self.root}/Sample001 … Sample062 "
                            f"(unpack English{self.subset}.tgz under the data root)")
        return super()._containers()

    def _load(self) -> None:
        super()._load()
        names = []
        for folder in self._classes:
            number = folder.removeprefix("Sample")
            if not number.isdigit() or not 1 <= int(number) <= len(CHARACTERS):
                raise DataError(f"unexpected Char74K class folder {folder!r} in {self.root}")
            names.append(CHARACTERS[int(number) - 1])
        self._classes = names

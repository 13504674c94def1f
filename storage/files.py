"""The file store: uploaded files and exports under generated names, never user-given ones."""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class StoredFile:
    """A file kept in the store: its generated relative path, size and SHA-256."""

    relpath: str
    size: int
    sha256: str


class FileStore:
    """Keeps files under `root` in subfolders by kind, with random names."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, relpath: str) -> Path:
        """Returns the absolute path of a stored file, refusing paths that leave the store."""
        path = (self.root / relpath).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError("path outside the file store")
        return path

    def save(self, data: bytes, *, folder: str, suffix: str = "") -> StoredFile:
        """Writes bytes atomically under a generated name and returns where they are."""
        if suffix and not (suffix.startswith(".") and suffix[1:].isalnum() and len(suffix) <= 8):
            raise ValueError("invalid suffix")
        target_dir = self.root / folder
        target_dir.mkdir(parents=True, exist_ok=True)
        name = secrets.token_hex(16) + suffix
        tmp = target_dir / (name + ".part")
        try:
            with tmp.open("wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            tmp.replace(target_dir / name)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return StoredFile(
            relpath=f"{folder}/{name}", size=len(data), sha256=hashlib.sha256(data).hexdigest()
        )

    def delete(self, relpath: str) -> None:
        """Removes a stored file if it is there."""
        self.path(relpath).unlink(missing_ok=True)

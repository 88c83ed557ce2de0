"""Writing the files a user names, safely."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import InputError


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def atomic_write(path: str | Path, payload: bytes) -> None:
    """Write through a temporary file in the same folder, then rename: a failed
    write leaves the old file as it was. Never writes into a folder named as the file."""
    target = Path(path)
    if target.is_dir():
        raise InputError(f"{path} is a folder; give a file name")
    try:
        mode = target.stat().st_mode & 0o777 if target.exists() else 0o666 & ~_umask()
        with tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{target.name}.", delete=False) as handle:
            temporary = handle.name
            handle.write(payload)
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except OSError as error:
        try:
            os.unlink(temporary)
        except (OSError, UnboundLocalError):
            pass
        raise InputError(f"cannot write {path}: {error.strerror}") from None

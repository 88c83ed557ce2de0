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
    write leaves the old file as it was. Never writes into a folder named as the
    file, nor through a symbolic link to somewhere the user did not name."""
    target = Path(path)
    if target.is_symlink():
        raise InputError(
            f"{path} is a symbolic link (to {os.readlink(target)}); dcalc writes only to plain files",
            hint="remove the link, or name the file it points to",
        )
    if target.is_dir():
        raise InputError(f"{path} is a folder; give a file name")
    temporary = None
    try:
        mode = target.stat().st_mode & 0o777 if target.exists() else 0o666 & ~_umask()
        with tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{target.name}.", delete=False) as handle:
            temporary = handle.name
            handle.write(payload)
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException as error:
        if temporary is not None:
            try:
                os.unlink(temporary)
            except OSError:
                pass
        if isinstance(error, OSError):
            raise InputError(f"cannot write {path}: {error.strerror or error}") from None
        raise

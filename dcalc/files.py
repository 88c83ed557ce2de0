"""Writing the files a user names, safely; and which files a run has read, so that
it never writes over one of them."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import InputError


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


# The files this command has read (INPUT, --at @files, --at-file, --points, a
# sample's data files): the CLI forgets them when a command starts.
_read: list[Path] = []


def note_read(path: str | Path) -> None:
    _read.append(Path(path))


def file_to_read(path: str | Path, span=None) -> Path:
    """``path`` as a Path, once it names a file (a folder, or nothing there, is refused
    by name), noted as read (note_read)."""
    file = Path(path)
    if file.is_dir():
        raise InputError(f"{path} is a folder, not a file", span)
    if not file.is_file():
        raise InputError(f"no such file: {path}", span)
    note_read(file)
    return file


def forget_reads() -> None:
    _read.clear()


def check_target(path: str | Path, suffixes: tuple[str, ...] = (), option: str = "--save", rewriting: bool = False) -> Path:
    """``path`` as a Path, once it is safe to replace: not a symbolic link, not a
    folder, not a file this run has read (those noted with note_read; unless
    ``rewriting`` one on purpose, as check --update does), and (when ``suffixes``
    are given) named with one of them."""
    target = Path(path)
    if not str(path).strip():
        raise InputError(f"{option} needs a file name")
    if target.is_dir():
        raise InputError(f"{path} is a folder; give a file name")
    if suffixes and target.suffix.lower() not in suffixes:
        found = f"{target.suffix!r}" if target.suffix else "a name without a suffix"
        raise InputError(f"{option} writes {' or '.join(suffixes)} files, not {found}", hint=f"name it {target.stem or 'result'}{suffixes[0]}")
    if target.is_symlink():
        raise InputError(
            f"{path} is a symbolic link (to {os.readlink(target)}); dcalc writes only to plain files",
            hint="remove the link, or name the file it points to",
        )
    for source in () if rewriting else _read:
        try:
            same = target.exists() and os.path.samefile(target, source)
        except OSError:
            same = False
        if same:
            raise InputError(f"writing {path} would overwrite {source}, which this run reads", hint="write the results to another file")
    return target


def atomic_write(path: str | Path, payload: bytes, rewriting: bool = False) -> None:
    """Write through a temporary file in the same folder, then rename: a failed
    write leaves the old file as it was. Never writes into a folder named as the
    file, nor through a symbolic link to somewhere the user did not name."""
    target = check_target(path, rewriting=rewriting)
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

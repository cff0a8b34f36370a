"""Replacing a file in one step, without writing through or over anything the engine did not create."""
from __future__ import annotations

import contextlib
import os
import secrets
import stat

__all__ = ["replace_file", "temporary_beside"]


def temporary_beside(target: str, mode: int = 0o666) -> tuple[int, str]:
    """A new file beside `target` under a random name, created exclusively (never a planted file or link).

    With the default mode, the umask sets the permissions, as for any new file. Raises OSError.
    """
    folder, base = os.path.split(target)
    while True:
        tmp = os.path.join(folder, f"{base[:200]}.{secrets.token_hex(6)}.part")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode), tmp
        except FileExistsError:
            continue


def replace_file(path: str | os.PathLike[str], data: bytes, *, durable: bool = False, mode: int = 0o666) -> None:
    """Put `data` at `path` so that a reader sees the old content or the new, never half.

    Through a symlink, the link stays and the file it names is replaced. An existing file keeps its
    permissions; a new one gets `mode` (less the umask). `durable` syncs the data before the rename.
    Raises OSError; the temporary file is gone whatever fails.
    """
    target = os.path.realpath(path)
    fd, tmp = temporary_beside(target, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        with contextlib.suppress(FileNotFoundError):  # a file shared on purpose keeps the permissions it was given
            os.chmod(tmp, stat.S_IMODE(os.stat(target).st_mode))
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)  # ours: created exclusively, under a name nobody else picks
        raise

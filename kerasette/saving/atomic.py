"""Atomic file replacement: write a temporary file beside the target, flush it to disk, rename.

A process killed at any moment leaves either the previous file or the new one, never a mix:
``os.replace`` is atomic on POSIX and Windows when both paths are on one file system, which a
temporary file in the same folder guarantees.

A killed save leaves its temporary file behind. Temporary files are named
``.<file>.<host>.<pid>.<random>.tmp``, so the next save to the same path removes those that a
process of this machine left and that is gone; a temporary file of a live process, or of another
machine sharing the folder, is never touched.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import tempfile


def _fsync_path(path: str, directory: bool = False) -> None:
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        if directory:  # some systems cannot open folders; the rename is still atomic there
            return
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not directory:
            raise
    finally:
        os.close(fd)


def _default_mode(target: str) -> int:
    try:
        return os.stat(target).st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname()) or "host"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # it exists (another user's), or we cannot tell: keep its file
    return True


def remove_stale_temporaries(target: str) -> list[str]:
    """Deletes the temporary files that earlier saves to ``target`` left when their process died
    (this machine's only; never a live process's); returns their paths."""
    folder, base = os.path.dirname(target), os.path.basename(target)
    prefix = f".{base}.{_host()}."
    removed = []
    with contextlib.suppress(OSError):
        for name in os.listdir(folder):
            if not (name.startswith(prefix) and name.endswith(".tmp")):
                continue
            pid_text = name[len(prefix):].split(".", 1)[0]
            if not pid_text.isdigit() or int(pid_text) == os.getpid() or _alive(int(pid_text)):
                continue
            with contextlib.suppress(OSError):
                os.remove(os.path.join(folder, name))
                removed.append(os.path.join(folder, name))
    return removed


@contextlib.contextmanager
def atomic_write(filepath, overwrite: bool = True):
    """Yields a temporary path to write; on success it replaces ``filepath`` atomically.

    Args:
        filepath: the final path; missing parent folders are created.
        overwrite: when False, an existing file is an error.

    Raises:
        FileExistsError: ``filepath`` exists and ``overwrite`` is False.

    Example:
        >>> import os, tempfile
        >>> target = os.path.join(tempfile.mkdtemp(), 'x.txt')
        >>> with atomic_write(target) as tmp:
        ...     _ = open(tmp, 'w').write('done')
        >>> open(target).read()
        'done'
    """
    target = os.path.abspath(os.fspath(filepath))
    if not overwrite and os.path.exists(target):
        raise FileExistsError(f"{target}: the file exists and overwrite=False")
    if os.path.isdir(target):
        raise IsADirectoryError(f"{target}: is a folder; give a file path to save to")
    folder = os.path.dirname(target)
    os.makedirs(folder, exist_ok=True)
    remove_stale_temporaries(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.{_host()}.{os.getpid()}.", suffix=".tmp",
                               dir=folder)
    os.close(fd)
    try:
        os.chmod(tmp, _default_mode(target))
        yield tmp
        _fsync_path(tmp)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    _fsync_path(folder, directory=True)

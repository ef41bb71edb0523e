"""Atomic file replacement: write a temporary file beside the target, flush it to disk, rename.

A process killed at any moment leaves either the previous file or the new one, never a mix:
``os.replace`` is atomic on POSIX and Windows when both paths are on one file system, which a
temporary file in the same folder guarantees.
"""

from __future__ import annotations

import contextlib
import os
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
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=folder)
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

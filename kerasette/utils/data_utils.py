"""Downloading files into Keras's cache, checking their hashes, and unpacking archives safely.

`get_file` is Keras's: the file at ``origin`` is kept under ``$KERAS_HOME/<cache_subdir>/``
(``KERAS_HOME`` defaults to ``~/.keras``), the very place Keras keeps it, so a file Keras
already downloaded is used without a new download, and a file copied there by hand is used on a
machine without network.

What a download does, in order: it streams the bytes into a temporary file in the cache folder
(with a tqdm progress bar), checks that every byte announced arrived, checks the hash when one was
given, and only then renames the file into place; on any failure the temporary file is deleted,
so the cache never holds a partial or wrong file. When the server cannot be reached,
`DownloadError` names the URL and the exact path where the file can be placed by hand.

Archives are unpacked into a fresh temporary folder next to the target, and renamed into place
once complete. Every member is checked before anything is written: an absolute name, a name that
climbs out of the folder (``..``), a symbolic or hard link, a device or a fifo makes the whole
archive refused with an error naming the member (Keras skips such members with a warning; a
tampered data file is better refused).
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import urllib.parse
import warnings

CHUNK_SIZE = 1 << 16
TIMEOUT_SECONDS = 60.0


class DownloadError(OSError):
    """A file could not be downloaded (no network, server error, the connection dropped)."""


def keras_home() -> str:
    """Keras's folder for caches and settings: ``$KERAS_HOME`` when set, else ``~/.keras``
    (``/tmp/.keras`` when the home folder cannot be written, as Keras does)."""
    if os.environ.get("KERAS_HOME"):
        return os.path.expanduser(os.environ["KERAS_HOME"])
    base = os.path.expanduser("~")
    if not os.access(base, os.W_OK):
        base = "/tmp"
    return os.path.join(base, ".keras")


def _fallback_home() -> str:
    return os.path.join("/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir(), ".keras")


def get_file(fname: str | None = None, origin: str | None = None, untar: bool = False, md5_hash: str | None = None,
             file_hash: str | None = None, cache_subdir: str = "datasets", hash_algorithm: str = "auto",
             extract: bool = False, archive_format="auto", cache_dir: str | None = None,
             force_download: bool = False) -> str:
    """Downloads a file from a URL unless it is already in the cache; returns its local path.

    Keras 3's layout: a single file lands at ``<cache_dir>/<cache_subdir>/<fname>``. With
    ``extract`` (or Keras 1/2's ``untar``) the returned path is the folder the archive was
    unpacked into: for an ``fname`` without a dot, the archive is kept as ``<fname>_archive`` and
    unpacked into ``<fname>/``; for an ``fname`` with a dot (``"data.tar.gz"``), the archive is
    kept under that name and unpacked into ``<stem>_extracted/`` (stem: the name up to its first
    dot); with no ``fname``, the name comes from the URL and the archive is kept as
    ``<name>_archive``. (Keras 2 unpacked into the cache folder itself and returned the archive's
    path for ``extract``; kerasette follows Keras 3.) An unpacked folder already present is used
    as is, so a user may also place the unpacked folder there by hand.

    Args:
        fname: the file's name in the cache; None takes the last part of ``origin``'s path. An
            absolute path is used as the file's location (as Keras 2 allowed); any other name
            with a path separator is refused (as Keras 3 does).
        origin: the URL to download from.
        untar: Keras 1/2: unpack a tar archive the Keras 2 way: it is kept as
            ``<fname>.tar.gz``, unpacked into the cache folder itself, and ``<cache folder>/<fname>``
            is returned (Keras 3 treats ``untar`` as ``extract``; kerasette keeps Keras 2's
            layout for the scripts that use this Keras 2 argument, and so reuses Keras 2's cache).
        md5_hash: Keras 1/2: an md5 hash to check (``file_hash`` with ``hash_algorithm="md5"``).
        file_hash: the expected sha256 or md5 hash (hex) of the downloaded file.
        cache_subdir: the folder under ``cache_dir``; an absolute path is used as is.
        hash_algorithm: ``"sha256"``, ``"md5"`` or ``"auto"`` (sha256 for a 64-digit hash,
            else md5).
        extract: unpack the archive (tar, tar.gz, tar.bz2, tar.xz or zip).
        archive_format: ``"auto"`` (tar, then zip), ``"tar"``, ``"zip"``, a list of those, or
            None (do not unpack).
        cache_dir: the cache's root, default `keras_home()`. When it cannot be written, a new
            download goes under ``/tmp/.keras`` (a file already in ``cache_dir`` is still used).
        force_download: download even when the cached file is present and valid.

    Raises:
        ValueError: no ``origin``; a bad ``fname``; the download's hash does not match.
        DownloadError: the server could not be reached, answered with an error, or the
            connection broke before the whole file arrived. The message names the URL and the
            path to place the file at by hand.

    Example:
        >>> import os, tempfile
        >>> folder = tempfile.mkdtemp()
        >>> open(os.path.join(folder, "numbers.txt"), "w").write("1 2 3")
        5
        >>> get_file("numbers.txt", origin="http://127.0.0.1:9/numbers.txt", cache_dir=folder,
        ...          cache_subdir="") == os.path.join(folder, "numbers.txt")
        True
    """
    if origin is None:
        raise ValueError('get_file: please give the "origin" argument (the URL of the file to download)')
    if md5_hash is not None and file_hash is None:
        file_hash, hash_algorithm = md5_hash, "md5"
    if hash_algorithm not in ("auto", "md5", "sha256"):
        raise ValueError(f"get_file: hash_algorithm must be 'auto', 'md5' or 'sha256'; received {hash_algorithm!r}")
    if untar:
        archive_format = "tar"
    fname = os.fspath(fname) if fname is not None else None
    provided = bool(fname)
    if not fname:
        fname = os.path.basename(urllib.parse.urlsplit(origin).path)
        if not fname:
            raise ValueError(f"get_file: cannot take a file name from the origin {origin!r}; give the `fname` argument")
    elif not os.path.isabs(fname) and (os.sep in fname or (os.altsep and os.altsep in fname)):
        raise ValueError("get_file: `fname` is a file name, not a path (use `cache_dir` and `cache_subdir` to choose "
                         f"the folder); received fname={fname!r}")

    home = os.path.expanduser(os.fspath(cache_dir)) if cache_dir is not None else keras_home()
    datadir = os.path.join(home, os.fspath(cache_subdir))
    layout = _Layout(datadir, fname, provided, extract, untar)
    if not force_download and layout.usable(file_hash, hash_algorithm):
        return layout.finish(archive_format, origin)

    if not _writable(datadir):  # a read-only cache: download under /tmp/.keras instead, as Keras does
        fallback = os.path.join(_fallback_home(), os.fspath(cache_subdir))
        if not os.path.isabs(os.fspath(cache_subdir)) and os.path.abspath(fallback) != os.path.abspath(datadir):
            layout = _Layout(fallback, fname, provided, extract, untar)
            if not force_download and layout.usable(file_hash, hash_algorithm):
                return layout.finish(archive_format, origin)
    os.makedirs(os.path.dirname(layout.target) or ".", exist_ok=True)
    if os.path.exists(layout.target) and not force_download:
        print(f"A local file was found at {layout.target}, but its {_hasher(hash_algorithm, file_hash).name} hash "
              f"does not match {file_hash}: downloading it again.")
    _download(origin, layout.target, file_hash, hash_algorithm, layout.returned if layout.unpack_into else None)
    return layout.finish(archive_format, origin, fresh=True)


class _Layout:
    """Where `get_file` keeps a download and unpacks it.

    - plain file: ``<datadir>/<fname>``, returned;
    - ``extract`` (Keras 3): see `get_file`; the unpacked folder is returned;
    - ``untar`` (Keras 1/2): the archive is ``<datadir>/<fname>.tar.gz``, unpacked into
      ``<datadir>`` itself, and ``<datadir>/<fname>`` is returned, as Keras 2 did, so a Keras 2
      cache is used as it is.
    """

    def __init__(self, datadir: str, fname: str, provided: bool, extract: bool, untar: bool):
        if untar:
            self.target = os.path.join(datadir, fname + ".tar.gz")
            self.unpack_into, self.returned = datadir, os.path.join(datadir, fname)
        elif not extract:
            self.target, self.unpack_into, self.returned = os.path.join(datadir, fname), None, None
        elif provided and "." in os.path.basename(fname):
            self.target = os.path.join(datadir, fname)
            stem = os.path.basename(fname)
            self.unpack_into = os.path.join(os.path.dirname(self.target), f"{stem[: stem.find('.')]}_extracted")
        else:
            self.target, self.unpack_into = os.path.join(datadir, f"{fname}_archive"), os.path.join(datadir, fname)
        if not untar and self.unpack_into is not None:
            self.returned = self.unpack_into
        self.merge = untar  # Keras 2 unpacked into the cache folder, beside other data

    def unpacked(self) -> bool:
        return self.returned is not None and _nonempty_dir(self.returned)

    def usable(self, file_hash, algorithm: str) -> bool:
        """Whether the cache already holds what is asked for (no download needed)."""
        if self.unpacked():
            return True
        return os.path.isfile(self.target) and (file_hash is None or validate_file(self.target, file_hash, algorithm))

    def finish(self, archive_format, origin: str, fresh: bool = False) -> str:
        """Unpacks the archive when asked (afresh after a new download); the path to return."""
        if self.unpack_into is None:
            return self.target
        if fresh and not self.merge and os.path.isdir(self.unpack_into):
            shutil.rmtree(self.unpack_into)
        if fresh or not self.unpacked():
            if not extract_archive(self.target, self.unpack_into, archive_format):
                warnings.warn(f"get_file: could not unpack {self.target} (downloaded from {origin}): it is not an "
                              f"archive of the format {archive_format!r}", stacklevel=3)
        return self.returned


def _nonempty_dir(path: str) -> bool:
    return os.path.isdir(path) and any(True for _ in os.scandir(path))


def _writable(datadir: str) -> bool:
    """Whether files can be created in ``datadir`` (made when missing)."""
    try:
        os.makedirs(datadir, exist_ok=True)
    except OSError:
        return False
    return os.access(datadir, os.W_OK)


def _download(origin: str, target: str, file_hash, algorithm: str, extraction_dir: str | None) -> None:
    """Streams ``origin`` into a temporary file beside ``target``; renames it into place only when
    it is complete and its hash matches."""
    import urllib.error  # deferred: with urllib.request below
    import urllib.request  # deferred: http.client and ssl cost ~13 ms at import, needed only to download

    from tqdm.auto import tqdm  # deferred: tqdm is only needed when something is downloaded

    hasher = _hasher(algorithm, file_hash) if file_hash is not None else None
    fd, partial = tempfile.mkstemp(dir=os.path.dirname(target) or ".", prefix=os.path.basename(target) + ".",
                                   suffix=".part")
    print(f"Downloading data from {origin}")
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                response = urllib.request.urlopen(origin, timeout=TIMEOUT_SECONDS)
            except urllib.error.HTTPError as exc:
                raise DownloadError(_failure(origin, f"the server answered {exc.code} {exc.reason}", target,
                                             extraction_dir, file_hash)) from exc
            except (urllib.error.URLError, OSError, ValueError) as exc:
                reason = getattr(exc, "reason", exc)
                raise DownloadError(_failure(origin, f"{reason}", target, extraction_dir, file_hash)) from exc
            with response:
                length = response.headers.get("Content-Length")
                expected = int(length) if length and length.isdigit() else None
                received = 0
                with tqdm(total=expected, unit="B", unit_scale=True, unit_divisor=1024,
                          desc=os.path.basename(target), leave=False) as bar:
                    while True:
                        try:
                            chunk = response.read(CHUNK_SIZE)
                        except Exception as exc:  # http.client.IncompleteRead, a reset, a timeout
                            raise DownloadError(_failure(origin, f"the connection broke after {received} bytes ({exc})",
                                                         target, extraction_dir, file_hash)) from exc
                        if not chunk:
                            break
                        out.write(chunk)
                        if hasher is not None:
                            hasher.update(chunk)
                        received += len(chunk)
                        bar.update(len(chunk))
                if expected is not None and received != expected:
                    raise DownloadError(_failure(origin, f"the connection broke after {received} of {expected} bytes",
                                                 target, extraction_dir, file_hash))
        if hasher is not None and hasher.hexdigest() != str(file_hash).lower():
            raise ValueError(f"get_file: the file downloaded from {origin} is incomplete or corrupted: its "
                             f"{hasher.name} hash is {hasher.hexdigest()}, not the expected {file_hash}. Nothing was "
                             "kept in the cache.")
        os.replace(partial, target)
    except BaseException:
        if os.path.exists(partial):
            os.remove(partial)
        raise


def _failure(origin: str, reason: str, target: str, extraction_dir: str | None, file_hash) -> str:
    where = f"place the file at {target}"
    if extraction_dir is not None:
        where += f" (or its unpacked contents in the folder {extraction_dir})"
    check = f"; its hash should be {file_hash}" if file_hash else ""
    return (f"Could not download {origin}: {reason}. If this machine has no network, download that URL on another "
            f"machine and {where}{check}.")


def _hasher(algorithm: str, file_hash=None):
    import hashlib  # deferred: OpenSSL's hashes cost ~3 ms at import, needed only to check a file

    if algorithm == "sha256" or (algorithm == "auto" and file_hash is not None and len(str(file_hash)) == 64):
        return hashlib.sha256()
    return hashlib.md5()


def hash_file(fpath: str, algorithm: str = "sha256", chunk_size: int = CHUNK_SIZE) -> str:
    """The hex sha256 (or md5) hash of a file, read in chunks.

    Args:
        fpath: the file.
        algorithm: ``"sha256"``, ``"md5"`` or ``"auto"`` (sha256), or a hashlib object.
        chunk_size: bytes read at a time.
    """
    hasher = _hasher(algorithm) if isinstance(algorithm, str) else algorithm
    with open(fpath, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def validate_file(fpath: str, file_hash: str, algorithm: str = "auto", chunk_size: int = CHUNK_SIZE) -> bool:
    """Whether a file's sha256 or md5 hash is ``file_hash`` (``"auto"``: sha256 for a 64-digit
    hash, else md5)."""
    return hash_file(fpath, _hasher(algorithm, file_hash), chunk_size) == str(file_hash).lower()


def extract_archive(file_path: str, path: str = ".", archive_format="auto") -> bool:
    """Unpacks a tar (plain, gz, bz2, xz) or zip archive into the folder ``path``.

    The members are checked first (see the module docstring): an archive with a member that
    would land outside ``path`` or is a link, device or fifo is refused whole, with a ValueError
    naming the member. The archive is unpacked into a temporary folder beside ``path`` and moved
    into place when complete; a folder already at ``path`` receives the new files.

    Args:
        file_path: the archive.
        path: the folder to unpack into.
        archive_format: ``"auto"`` (tar, then zip), ``"tar"``, ``"zip"``, a list of those, or
            None.

    Returns:
        True when the file was an archive of an allowed format and was unpacked, else False.
    """
    if archive_format is None:
        return False
    import tarfile  # deferred: tarfile and zipfile (with bz2 and lzma) cost ~10 ms at import, needed only here
    import zipfile  # deferred: see tarfile above

    formats = ["tar", "zip"] if archive_format == "auto" else [archive_format] if isinstance(archive_format, str) \
        else list(archive_format)
    file_path, path = os.fspath(file_path), os.fspath(path)
    for kind in formats:
        if kind == "tar":
            if not tarfile.is_tarfile(file_path):
                continue
            with tarfile.open(file_path) as archive:
                members = [_tar_member(file_path, m) for m in archive.getmembers()]
                _unpack(path, members, lambda m: archive.extractfile(m))
            return True
        if kind == "zip":
            if not zipfile.is_zipfile(file_path):
                continue
            with zipfile.ZipFile(file_path) as archive:
                members = [_zip_member(file_path, m) for m in archive.infolist()]
                _unpack(path, members, lambda m: archive.open(m))
            return True
        raise ValueError(f"extract_archive: archive_format must be 'auto', 'tar', 'zip', a list of those, or None; "
                         f"received {kind!r}")
    return False


def _safe_name(archive: str, name: str) -> list[str]:
    """The member's path as parts inside the target folder; a ValueError for a name that is
    absolute or climbs out of it."""
    unified = name.replace("\\", "/")
    if unified.startswith("/") or (len(unified) > 1 and unified[1] == ":") or os.path.isabs(name):
        raise ValueError(f"extract_archive: refusing to unpack {archive}: its member {name!r} has an absolute path")
    parts = [p for p in unified.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ValueError(f"extract_archive: refusing to unpack {archive}: its member {name!r} would land outside the "
                         "target folder ('..')")
    return parts


def _tar_member(archive: str, member):
    parts = _safe_name(archive, member.name)
    if member.issym() or member.islnk():
        raise ValueError(f"extract_archive: refusing to unpack {archive}: its member {member.name!r} is a "
                         f"{'symbolic' if member.issym() else 'hard'} link (to {member.linkname!r})")
    if not (member.isfile() or member.isdir()):
        raise ValueError(f"extract_archive: refusing to unpack {archive}: its member {member.name!r} is a device, "
                         "fifo or other special file")
    return parts, member.isdir(), member


def _zip_member(archive: str, info):
    parts = _safe_name(archive, info.filename)
    mode = info.external_attr >> 16  # Unix mode, when the zip tool stored one (no type bits: a plain file)
    if stat.S_ISLNK(mode):
        raise ValueError(f"extract_archive: refusing to unpack {archive}: its member {info.filename!r} is a symbolic "
                         "link")
    if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise ValueError(f"extract_archive: refusing to unpack {archive}: its member {info.filename!r} is a device, "
                         "fifo or other special file")
    return parts, info.is_dir(), info


def _unpack(path: str, members: list, open_member) -> None:
    """Writes the checked ``members`` into a temporary folder, then moves its contents into ``path``."""
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(dir=parent, prefix=os.path.basename(path) + ".unpacking.")
    try:
        for parts, is_dir, member in members:
            if not parts:
                continue
            where = os.path.join(staging, *parts)
            if is_dir:
                os.makedirs(where, exist_ok=True)
                continue
            os.makedirs(os.path.dirname(where), exist_ok=True)
            source = open_member(member)
            with source, open(where, "wb") as out:
                shutil.copyfileobj(source, out, CHUNK_SIZE)
        if not os.path.exists(path):
            os.replace(staging, path)
            return
        for entry in os.listdir(staging):  # merge into an existing folder
            destination = os.path.join(path, entry)
            if os.path.isdir(destination) and not os.path.islink(destination):
                shutil.rmtree(destination)
            elif os.path.lexists(destination):
                os.remove(destination)
            os.replace(os.path.join(staging, entry), destination)
    finally:
        if os.path.isdir(staging):
            shutil.rmtree(staging)


__all__ = ["DownloadError", "extract_archive", "get_file", "hash_file", "keras_home", "validate_file"]

"""A kernel's cached code is used only while the kernels it calls from other modules are unchanged.

Why: numba keys a function's on-disk cache by the content of the one file that defines it. A
kernel that calls a numba function from another module (a native job running the Winograd chunk
kernels, a pass built on `simd`'s vectors) carries a compiled copy of the callee's code, so after
an edit of the callee's module alone, the caller's cache entry would still be taken: old callee
code beside new, or a call by symbol with an old argument convention. With an editable install, a
`git pull` that changes only the callee's file is enough.

:func:`install` makes numba's cache stamp, for functions defined in this package, also cover the
kerasette modules the defining module imports (followed through this package's modules): an edit
to any of them makes numba compile the caller again, once. Functions defined elsewhere keep
numba's stamp. A numba without the locator classes used here is left as it is.
"""

from __future__ import annotations

import functools
import hashlib
import re
from pathlib import Path

from numba.core import caching

#: this package's folder: functions defined in its modules get the wider stamp
_KERNELS = Path(__file__).resolve().parent
#: the kerasette package's folder, to find an imported module's file
_PACKAGE = _KERNELS.parents[1]

# ``from kerasette.a.b import x, y`` (one line or parenthesised) and ``import kerasette.a.b``
_FROM_IMPORT = re.compile(r"^\s*from\s+(kerasette(?:\.\w+)*)\s+import\s+(\([^)]*\)|[^\n]+)", re.MULTILINE)
_PLAIN_IMPORT = re.compile(r"^\s*import\s+(kerasette(?:\.\w+)+)", re.MULTILINE)


@functools.cache
def _module_file(dotted: str) -> Path | None:
    """The source file of kerasette module ``dotted``, or None when it is not one."""
    relative = Path(*dotted.split(".")[1:])
    for candidate in (_PACKAGE / relative.with_suffix(".py"), _PACKAGE / relative / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_files(source: str) -> set[Path]:
    """The files of the kerasette modules ``source`` imports: for ``from kerasette.x import
    name``, ``x.name`` where that is a module, else ``x``."""
    files = set()
    for dotted, names in _FROM_IMPORT.findall(source):
        for name in re.findall(r"\w+(?=\s*(?:as\s+\w+\s*)?(?:,|\)|$))", re.sub(r"#[^\n]*", "", names).strip("()")):
            found = _module_file(f"{dotted}.{name}") or _module_file(dotted)
            if found is not None:
                files.add(found)
    for dotted in _PLAIN_IMPORT.findall(source):
        found = _module_file(dotted)
        if found is not None:
            files.add(found)
    return files


@functools.cache
def _file_facts(file: Path) -> tuple[bytes, frozenset]:
    """``file``'s content digest and the kerasette module files it imports (read once)."""
    content = file.read_bytes()
    return hashlib.sha256(content).digest(), frozenset(imported_files(content.decode("utf-8")))


@functools.cache
def dependencies_digest(path: str) -> bytes:
    """A digest of ``path``'s content and of every kerasette module it imports, followed through
    this package's modules (a module outside it counts by its own content only)."""
    start = Path(path).resolve()
    seen, to_read, digest = set(), [start], hashlib.sha256()
    while to_read:
        file = to_read.pop()
        if file in seen:
            continue
        seen.add(file)
        if file == start or file.parent == _KERNELS:
            to_read.extend(_file_facts(file)[1] - seen)
    for file in sorted(seen):
        digest.update(str(file.relative_to(_PACKAGE)).encode())
        digest.update(_file_facts(file)[0])
    return digest.digest()


def _in_package(py_file: str) -> bool:
    try:
        return Path(py_file).resolve().parent == _KERNELS
    except OSError:
        return False


class _WiderStamp:
    """A locator whose stamp is numba's and :func:`dependencies_digest`'s, for this package's
    functions only (``from_function`` declines any other)."""

    def get_source_stamp(self):
        return super().get_source_stamp(), dependencies_digest(self._py_file)

    @classmethod
    def from_function(cls, py_func, py_file):
        if not _in_package(py_file):
            return None
        return super().from_function(py_func, py_file)


def install() -> bool:
    """Puts the wider-stamp locators first in numba's list (once per process); True when numba
    has the locators they build on."""
    impl = getattr(caching, "CacheImpl", None)
    bases = [getattr(caching, name, None) for name in ("UserProvidedCacheLocator", "InTreeCacheLocator",
                                                       "UserWideCacheLocator")]
    if impl is None or None in bases or not isinstance(getattr(impl, "_locator_classes", None), list):
        return False
    if any(issubclass(cls, _WiderStamp) for cls in impl._locator_classes):
        return True
    wider = [type(f"Wider{base.__name__}", (_WiderStamp, base), {}) for base in bases]
    impl._locator_classes[:0] = wider
    return True

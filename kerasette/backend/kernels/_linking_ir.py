"""Kernels loaded from numba's cache keep their linking IR as bitcode, parsed only when needed.

Why: numba caches a kernel as its machine code plus the LLVM bitcode of its module "for
linking" (the IR that another function compiled later, which calls this one, links into its own
module and optimises together). On each load from the cache numba parses that bitcode into an
LLVM module and keeps it for the process's life, whether or not anything ever links it; in a
process that only loads, nothing does. Those modules were 12 MB of ResNet-20's training peak (the
kernel loader thread's heap held 26 MB, the bitcode itself is 2.6 MB).

:func:`install` changes numba's CPU code library in two places: a library loaded from the cache
keeps the bitcode (bytes) instead of the parsed module (parsed once still, for the names of the
functions it defines, then freed), and the first request for its module for linking parses the
bitcode again, after which it is as numba would have had it. The machine code that runs is the
same. Set ``KERASETTE_LAZY_LINKING_IR=0`` to leave numba as it is; a numba whose library lacks
the two methods is left as it is too.
"""

from __future__ import annotations

import os

import llvmlite.binding as llvm
from numba.core import codegen

#: the attribute holding a loaded library's bitcode until its module for linking is asked for
_BITCODE = "_kerasette_linking_bitcode"


def enabled() -> bool:
    """Whether :func:`install` changes numba (unless ``KERASETTE_LAZY_LINKING_IR=0``)."""
    setting = os.environ.get("KERASETTE_LAZY_LINKING_IR", "1").strip().lower()
    return setting not in ("0", "false", "no", "off")


def install() -> bool:
    """Makes numba's cache-loaded code libraries keep their linking IR as bitcode (see the
    module docstring), once per process; True when numba was changed."""
    library_class = codegen.CPUCodeLibrary
    if getattr(library_class, "_kerasette_lazy_linking_ir", False):
        return True
    unserialize = getattr(library_class, "_unserialize", None)
    module_for_linking = getattr(library_class, "_get_module_for_linking", None)
    if not enabled() or unserialize is None or module_for_linking is None:
        return False
    load = unserialize.__func__

    def _unserialize(cls, code_generator, state):
        library = load(cls, code_generator, state)
        _, kind, data = state
        if kind == "object" and library._shared_module is not None:
            setattr(library, _BITCODE, data[1])  # (object code, bitcode for linking)
            library._shared_module = None
        return library

    def _get_module_for_linking(self):
        bitcode = self.__dict__.pop(_BITCODE, None)
        if bitcode is not None and self._shared_module is None:
            self._shared_module = llvm.parse_bitcode(bitcode)
        return module_for_linking(self)

    library_class._unserialize = classmethod(_unserialize)
    library_class._get_module_for_linking = _get_module_for_linking
    library_class._kerasette_lazy_linking_ir = True
    return True

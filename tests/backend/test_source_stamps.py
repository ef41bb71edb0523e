"""A kernel's cache stamp covers the kerasette modules its module imports (kernels/_source_stamps)."""

from __future__ import annotations

import numba
import pytest
from numba.core import caching

from kerasette.backend.kernels import _source_stamps as stamps
from kerasette.backend.kernels import conv_jobs, winograd


@pytest.fixture
def tree(tmp_path, monkeypatch):
    """A kerasette-shaped tree: kernels/a.py imports kernels/b.py and backend/c.py; c imports d."""
    kernels = tmp_path / "kerasette" / "backend" / "kernels"
    kernels.mkdir(parents=True)
    (kernels / "a.py").write_text(
        "from kerasette.backend.kernels.b import (\n    one,  # a comment\n    two as other,\n)\n"
        "from kerasette.backend import c\n")
    (kernels / "b.py").write_text("one = 1\ntwo = 2\n")
    (tmp_path / "kerasette" / "backend" / "c.py").write_text("from kerasette.backend import d\n")
    (tmp_path / "kerasette" / "backend" / "d.py").write_text("x = 1\n")
    monkeypatch.setattr(stamps, "_KERNELS", kernels)
    monkeypatch.setattr(stamps, "_PACKAGE", tmp_path / "kerasette")
    for cached in (stamps._module_file, stamps._file_facts, stamps.dependencies_digest):
        cached.cache_clear()
    yield kernels
    for cached in (stamps._module_file, stamps._file_facts, stamps.dependencies_digest):
        cached.cache_clear()


def _digest(path):
    for cached in (stamps._module_file, stamps._file_facts, stamps.dependencies_digest):
        cached.cache_clear()
    return stamps.dependencies_digest(str(path))


def test_imported_files_reads_each_form(tree):
    backend = tree.parent
    assert stamps.imported_files((tree / "a.py").read_text()) == {tree / "b.py", backend / "c.py"}
    assert stamps.imported_files("import kerasette.backend.d\nimport numpy\n") == {backend / "d.py"}
    # a name that is no module counts its package (none here: the tree has no __init__.py)
    assert stamps.imported_files("from kerasette.backend.kernels import b, missing\n") == {tree / "b.py"}


def test_a_callee_module_edit_changes_the_callers_stamp(tree):
    before = _digest(tree / "a.py")
    (tree / "b.py").write_text("one = 1\ntwo = 3\n")
    assert _digest(tree / "a.py") != before


def test_a_module_outside_the_package_counts_by_its_content_only(tree):
    before = _digest(tree / "a.py")
    (tree.parent / "c.py").write_text("from kerasette.backend import d  # edited\n")
    edited = _digest(tree / "a.py")
    assert edited != before
    (tree.parent / "d.py").write_text("x = 2\n")  # imported by c, which is not followed
    assert _digest(tree / "a.py") == edited


def test_an_unrelated_edit_leaves_the_stamp(tree):
    (tree / "z.py").write_text("z = 1\n")
    before = _digest(tree / "a.py")
    (tree / "z.py").write_text("z = 2\n")
    assert _digest(tree / "a.py") == before


def test_the_conv_jobs_stamp_covers_the_winograd_kernels():
    stamps.dependencies_digest.cache_clear()
    start = stamps.Path(conv_jobs.__file__).resolve()
    assert stamps.Path(winograd.__file__).resolve() in stamps._file_facts(start)[1]


def test_installed_once_and_only_for_this_package():
    assert stamps.install()
    assert stamps.install()
    wider = [cls for cls in caching.CacheImpl._locator_classes if issubclass(cls, stamps._WiderStamp)]
    assert len(wider) == 3
    assert caching.CacheImpl._locator_classes[:3] == wider

    def outside(x):
        return x + 1

    assert all(cls.from_function(outside, __file__) is None for cls in wider)


def test_a_kernels_cache_is_stamped_by_its_imports():
    locator = winograd.conv_chunk._cache._impl.locator
    assert isinstance(locator, stamps._WiderStamp)
    own, wider = locator.get_source_stamp()
    assert wider == stamps.dependencies_digest(locator._py_file)
    assert numba.config.DISABLE_JIT or own

"""get_file against a local HTTP server (127.0.0.1, started by each test): downloads, hashes, broken
connections, hostile archives, the cache, and the offline error."""

from __future__ import annotations

import hashlib
import io
import os
import socket
import tarfile
import zipfile

import pytest

from kerasette.utils import data_utils, get_file
from kerasette.utils.data_utils import DownloadError, extract_archive, hash_file, validate_file

PAYLOAD = bytes(range(256)) * 1000  # 256 kB: several chunks


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def listing(folder) -> list[str]:
    """Every file and folder below ``folder``, relative."""
    found = []
    for root, dirs, files in os.walk(folder):
        found += [os.path.relpath(os.path.join(root, n), folder) for n in dirs + files]
    return sorted(found)


def tar_bytes(members: list[tarfile.TarInfo], contents: dict[str, bytes] | None = None, mode="w:gz") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as tar:
        for info in members:
            data = (contents or {}).get(info.name)
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return buffer.getvalue()


def regular(name: str) -> tarfile.TarInfo:
    return tarfile.TarInfo(name)


def closed_port() -> int:
    """A local port with nothing listening (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ----- downloads -----

def test_good_download_lands_in_keras_home_with_hash(server, keras_home):
    server.files["/data/numbers.bin"] = PAYLOAD
    path = get_file("numbers.bin", origin=server.url("/data/numbers.bin"), file_hash=sha256(PAYLOAD))
    assert path == os.path.join(str(keras_home), "datasets", "numbers.bin")
    with open(path, "rb") as f:
        assert f.read() == PAYLOAD
    assert listing(keras_home) == ["datasets", "datasets/numbers.bin"]  # no temporary file left


def test_name_from_url_md5_hash_and_cache_subdir(server, tmp_path):
    server.files["/files/plain.txt"] = b"hello"
    path = get_file(origin=server.url("/files/plain.txt"), md5_hash=hashlib.md5(b"hello").hexdigest(),
                    cache_dir=str(tmp_path), cache_subdir="mine")
    assert path == os.path.join(str(tmp_path), "mine", "plain.txt")
    # hash_algorithm explicit, and an absolute cache_subdir used as is
    target = tmp_path / "absolute"
    path = get_file("p.txt", origin=server.url("/files/plain.txt"), file_hash=sha256(b"hello"),
                    hash_algorithm="sha256", cache_subdir=str(target))
    assert path == os.path.join(str(target), "p.txt")


def test_hash_mismatch_leaves_nothing(server, keras_home):
    server.files["/f.bin"] = PAYLOAD
    with pytest.raises(ValueError, match=r"incomplete or corrupted: its sha256 hash is [0-9a-f]{64}, not the expected "
                                         r"0{64}\. Nothing was kept"):
        get_file("f.bin", origin=server.url("/f.bin"), file_hash="0" * 64)
    assert listing(keras_home / "datasets") == []
    with pytest.raises(ValueError, match="its md5 hash is"):
        get_file("f.bin", origin=server.url("/f.bin"), file_hash="0" * 32)
    assert listing(keras_home / "datasets") == []


def test_connection_dropped_mid_file_leaves_nothing(server, keras_home):
    server.files["/big.bin"] = PAYLOAD
    server.truncated.add("/big.bin")
    with pytest.raises(DownloadError, match=r"Could not download http://127\.0\.0\.1:\d+/big\.bin: the connection "
                                            r"broke after \d+"):
        get_file("big.bin", origin=server.url("/big.bin"))  # no hash: the length alone must catch it
    assert listing(keras_home / "datasets") == []


def test_http_error_names_the_url_and_where_to_place_the_file(server, keras_home):
    with pytest.raises(DownloadError, match=r"the server answered 404") as info:
        get_file("missing.bin", origin=server.url("/missing.bin"))
    assert os.path.join(str(keras_home), "datasets", "missing.bin") in str(info.value)
    assert listing(keras_home / "datasets") == []


def test_offline_error_names_url_and_exact_path(keras_home):
    origin = f"http://127.0.0.1:{closed_port()}/tf-keras-datasets/mnist.npz"
    target = os.path.join(str(keras_home), "datasets", "mnist.npz")
    with pytest.raises(DownloadError) as info:
        get_file("mnist.npz", origin=origin, file_hash="a" * 64)
    message = str(info.value)
    assert f"Could not download {origin}" in message
    assert f"place the file at {target}" in message
    assert "its hash should be " + "a" * 64 in message
    assert listing(keras_home / "datasets") == []
    # for an archive, the message also names the folder the unpacked contents go to
    with pytest.raises(DownloadError, match=r"or its unpacked contents in the folder .*datasets.cifar-target\)"):
        get_file("cifar-target", origin=origin, extract=True)


def test_cached_file_is_reused_without_a_request(server, keras_home):
    server.files["/c.bin"] = PAYLOAD
    first = get_file("c.bin", origin=server.url("/c.bin"), file_hash=sha256(PAYLOAD))
    second = get_file("c.bin", origin=server.url("/c.bin"), file_hash=sha256(PAYLOAD))
    third = get_file("c.bin", origin=server.url("/c.bin"))  # no hash: presence is enough
    assert first == second == third
    assert server.count("/c.bin") == 1
    get_file("c.bin", origin=server.url("/c.bin"), force_download=True)
    assert server.count("/c.bin") == 2


def test_a_file_placed_by_hand_is_used_offline(keras_home):
    (keras_home / "datasets").mkdir()
    (keras_home / "datasets" / "hand.txt").write_bytes(b"by hand")
    origin = f"http://127.0.0.1:{closed_port()}/hand.txt"
    assert get_file("hand.txt", origin=origin, file_hash=sha256(b"by hand")) == str(keras_home / "datasets" /
                                                                                      "hand.txt")


def test_a_stale_cached_file_is_downloaded_again(server, keras_home, capsys):
    (keras_home / "datasets").mkdir()
    (keras_home / "datasets" / "s.bin").write_bytes(b"old and wrong")
    server.files["/s.bin"] = PAYLOAD
    path = get_file("s.bin", origin=server.url("/s.bin"), file_hash=sha256(PAYLOAD))
    assert open(path, "rb").read() == PAYLOAD
    assert server.count("/s.bin") == 1
    assert "does not match" in capsys.readouterr().out


def test_bad_arguments():
    with pytest.raises(ValueError, match='give the "origin" argument'):
        get_file("x")
    with pytest.raises(ValueError, match=r"`fname` is a file name, not a path .* received fname='a/b'"):
        get_file("a/b", origin="http://127.0.0.1/x")
    with pytest.raises(ValueError, match="cannot take a file name from the origin"):
        get_file(origin="http://127.0.0.1/")
    with pytest.raises(ValueError, match="hash_algorithm must be"):
        get_file("x", origin="http://127.0.0.1/x", hash_algorithm="sha1")


def test_read_only_cache_downloads_under_tmp_keras(server, tmp_path, monkeypatch):
    readonly = tmp_path / "ro"
    (readonly / "datasets").mkdir(parents=True)
    (readonly / "datasets" / "there.bin").write_bytes(b"t")
    real_writable = data_utils._writable
    monkeypatch.setattr(data_utils, "_writable", lambda d: not d.startswith(str(readonly)) and real_writable(d))
    monkeypatch.setattr(data_utils, "_fallback_home", lambda: str(tmp_path / "fallback"))
    server.files["/r.bin"] = b"r"
    path = get_file("r.bin", origin=server.url("/r.bin"), cache_dir=str(readonly))
    assert path == str(tmp_path / "fallback" / "datasets" / "r.bin")
    # a file already in the read-only cache is used from there
    assert get_file("there.bin", origin=server.url("/there.bin"), cache_dir=str(readonly)) == str(
        readonly / "datasets" / "there.bin")
    assert server.count("/there.bin") == 0


def test_keras_home_default_and_env(monkeypatch, tmp_path):
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert data_utils.keras_home() == os.path.join(str(tmp_path), ".keras")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    assert data_utils.keras_home() == str(tmp_path / "kh")


# ----- archives -----

GOOD_TAR_MEMBERS = {"top/a.txt": b"a", "top/sub/b.txt": b"bb"}


def good_tar(mode="w:gz") -> bytes:
    folder = tarfile.TarInfo("top")
    folder.type = tarfile.DIRTYPE
    return tar_bytes([folder] + [regular(n) for n in GOOD_TAR_MEMBERS], GOOD_TAR_MEMBERS, mode)


def good_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, data in GOOD_TAR_MEMBERS.items():
            z.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize("kind", ["tar.gz", "tar", "tar.bz2", "zip"])
def test_extract_layouts_follow_keras3(server, keras_home, kind):
    body = good_zip() if kind == "zip" else good_tar({"tar.gz": "w:gz", "tar": "w", "tar.bz2": "w:bz2"}[kind])
    server.files[f"/arch.{kind}"] = body
    datasets = keras_home / "datasets"
    # fname without a dot: kept as <fname>_archive, unpacked into <fname>/
    path = get_file("arch", origin=server.url(f"/arch.{kind}"), extract=True, file_hash=sha256(body))
    assert path == str(datasets / "arch")
    assert (datasets / "arch" / "top" / "sub" / "b.txt").read_bytes() == b"bb"
    assert (datasets / "arch_archive").read_bytes() == body
    # fname with a dot: kept under that name, unpacked into <stem>_extracted/
    path = get_file(f"other.{kind}", origin=server.url(f"/arch.{kind}"), extract=True)
    assert path == str(datasets / "other_extracted")
    assert (datasets / "other_extracted" / "top" / "a.txt").read_bytes() == b"a"
    # no fname: the URL's name, kept as <name>_archive
    path = get_file(origin=server.url(f"/arch.{kind}"), extract=True)
    assert path == str(datasets / f"arch.{kind}")
    assert (datasets / f"arch.{kind}_archive").is_file()
    # an unpacked folder already there is used without a request
    requests = len(server.requests)
    assert get_file("arch", origin=server.url(f"/arch.{kind}"), extract=True, file_hash=sha256(body)) == path.replace(
        f"arch.{kind}", "arch")
    assert len(server.requests) == requests


def test_untar_keeps_keras2_layout_and_reuses_a_keras2_cache(server, keras_home):
    members = {"flowers/roses/1.txt": b"r", "flowers/tulips/2.txt": b"t"}
    body = tar_bytes([regular(n) for n in members], members)
    server.files["/flower_photos.tgz"] = body
    datasets = keras_home / "datasets"
    datasets.mkdir()
    (datasets / "other.npz").write_bytes(b"kept")
    # Keras 2: the archive as <fname>.tar.gz, unpacked into the cache folder, <fname>/ returned
    path = get_file("flowers", origin=server.url("/flower_photos.tgz"), untar=True, file_hash=sha256(body))
    assert path == str(datasets / "flowers")
    assert listing(path) == ["roses", "roses/1.txt", "tulips", "tulips/2.txt"]
    assert (datasets / "flowers.tar.gz").read_bytes() == body
    assert (datasets / "other.npz").read_bytes() == b"kept"
    assert get_file("flowers", origin=server.url("/flower_photos.tgz"), untar=True) == path
    assert server.count("/flower_photos.tgz") == 1
    # a Keras 2 cache holding only the unpacked folder needs no download
    (datasets / "old").mkdir()
    (datasets / "old" / "x.txt").write_bytes(b"x")
    assert get_file("old", origin=server.url("/old.tgz"), untar=True) == str(datasets / "old")
    assert server.count("/old.tgz") == 0


def test_not_an_archive_warns(server, keras_home):
    server.files["/plain"] = b"just bytes"
    with pytest.warns(UserWarning, match="could not unpack"):
        get_file("plain", origin=server.url("/plain"), extract=True)


def hostile_tars() -> dict[str, bytes]:
    out = {}
    out["absolute"] = tar_bytes([regular("/tmp/kerasette_evil_abs.txt")], {"/tmp/kerasette_evil_abs.txt": b"x"})
    out["dotdot"] = tar_bytes([regular("top/../../evil.txt")], {"top/../../evil.txt": b"x"})
    link = tarfile.TarInfo("top/link")
    link.type, link.linkname = tarfile.SYMTYPE, "../../outside"
    out["symlink"] = tar_bytes([link, regular("top/link/evil.txt")], {"top/link/evil.txt": b"x"})
    inside_link = tarfile.TarInfo("top/inner")
    inside_link.type, inside_link.linkname = tarfile.SYMTYPE, "a.txt"
    out["symlink_inside"] = tar_bytes([regular("top/a.txt"), inside_link], {"top/a.txt": b"a"})
    hard = tarfile.TarInfo("top/hard")
    hard.type, hard.linkname = tarfile.LNKTYPE, "/etc/passwd"
    out["hardlink"] = tar_bytes([hard])
    device = tarfile.TarInfo("top/dev")
    device.type, device.devmajor, device.devminor = tarfile.CHRTYPE, 1, 3
    out["device"] = tar_bytes([device])
    fifo = tarfile.TarInfo("top/fifo")
    fifo.type = tarfile.FIFOTYPE
    out["fifo"] = tar_bytes([fifo])
    # a good member first: nothing at all may be written, not even it
    out["late_dotdot"] = tar_bytes([regular("top/a.txt"), regular("../late.txt")], {"top/a.txt": b"a",
                                                                                    "../late.txt": b"x"})
    return out


@pytest.mark.parametrize("name", sorted(hostile_tars()))
def test_hostile_tar_is_refused_and_writes_nothing(server, tmp_path, name):
    home = tmp_path / "home"
    server.files["/evil.tar.gz"] = hostile_tars()[name]
    before = listing(tmp_path)
    with pytest.raises(ValueError, match=r"extract_archive: refusing to unpack .*evil_archive: its member '.*' "
                                         r"(has an absolute path|would land outside|is a (symbolic|hard) link|"
                                         r"is a device)"):
        get_file("evil", origin=server.url("/evil.tar.gz"), extract=True, cache_dir=str(home))
    # only the downloaded archive itself is new: nothing unpacked, inside or outside
    assert set(listing(tmp_path)) - set(before) == {"home", "home/datasets", "home/datasets/evil_archive"}
    assert not os.path.exists("/tmp/kerasette_evil_abs.txt")


def hostile_zips() -> dict[str, bytes]:
    out = {}
    for name, member in (("absolute", "/tmp/kerasette_evil_zip.txt"), ("dotdot", "top/../../evil.txt"),
                         ("backslash_dotdot", "top\\..\\..\\evil.txt"), ("drive", "C:/evil.txt")):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as z:
            z.writestr("top/a.txt", b"a")
            z.writestr(zipfile.ZipInfo(member), b"x")
        out[name] = buffer.getvalue()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        info = zipfile.ZipInfo("top/link")
        info.external_attr = (0o120777 << 16)  # a symbolic link, as zip tools store it
        z.writestr(info, "../../outside")
    out["symlink"] = buffer.getvalue()
    return out


@pytest.mark.parametrize("name", sorted(hostile_zips()))
def test_hostile_zip_is_refused_and_writes_nothing(server, tmp_path, name):
    home = tmp_path / "home"
    server.files["/evil.zip"] = hostile_zips()[name]
    before = listing(tmp_path)
    with pytest.raises(ValueError, match=r"refusing to unpack .*its member"):
        get_file("evil", origin=server.url("/evil.zip"), extract=True, cache_dir=str(home))
    assert set(listing(tmp_path)) - set(before) == {"home", "home/datasets", "home/datasets/evil_archive"}
    assert not os.path.exists("/tmp/kerasette_evil_zip.txt")


def test_extract_archive_formats(tmp_path):
    archive = tmp_path / "a.tgz"
    archive.write_bytes(good_tar())
    assert extract_archive(str(archive), str(tmp_path / "none"), archive_format=None) is False
    assert extract_archive(str(archive), str(tmp_path / "z"), archive_format="zip") is False
    assert extract_archive(str(archive), str(tmp_path / "t"), archive_format=["zip", "tar"]) is True
    assert (tmp_path / "t" / "top" / "a.txt").read_bytes() == b"a"
    with pytest.raises(ValueError, match="archive_format must be"):
        extract_archive(str(archive), str(tmp_path / "q"), archive_format="rar")


def test_hash_helpers(tmp_path):
    f = tmp_path / "h"
    f.write_bytes(b"abc")
    assert hash_file(str(f)) == sha256(b"abc")
    assert hash_file(str(f), "md5") == hashlib.md5(b"abc").hexdigest()
    assert validate_file(str(f), sha256(b"abc"))
    assert validate_file(str(f), hashlib.md5(b"abc").hexdigest())  # auto: 32 digits -> md5
    assert validate_file(str(f), sha256(b"abc").upper())
    assert not validate_file(str(f), "0" * 64)

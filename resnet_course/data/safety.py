"""Checksums, downloads and archive extraction that never writes outside its folder.

What comes from the network is checked before it is used: a file against a SHA-256 pinned
in the code (:func:`verify_sha256`), an archive member by member before anything is
written (:func:`safe_extract`, against the "zip slip" and tar path-traversal attacks,
CVE-2007-4559). Downloads stream through a ``.part`` file renamed only when complete.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tarfile
import urllib.request
import zipfile
from pathlib import Path

__all__ = ["ChecksumError", "UnsafeArchiveError", "download_file", "safe_extract", "sha256_file", "verify_sha256"]


class ChecksumError(ValueError):
    """A downloaded file does not have the expected SHA-256."""


class UnsafeArchiveError(ValueError):
    """An archive member would land outside the target folder, or is a link or device."""


def sha256_file(path: Path) -> str:
    """The SHA-256 hex digest of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_sha256(path: str | Path, expected: str) -> None:
    """Raise :class:`ChecksumError` naming ``path`` and both digests unless they match."""
    actual = sha256_file(Path(path))
    if actual != expected.lower():
        raise ChecksumError(f"checksum mismatch for {path}: expected SHA-256 {expected}, got {actual}")


def download_file(url: str, dest: Path, timeout: float = 60.0) -> None:
    """Stream ``url`` to ``dest`` through a ``.part`` file that is renamed when complete."""
    from tqdm.auto import tqdm

    part = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(part, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name) as bar:
                for chunk in iter(lambda: response.read(1 << 20), b""):
                    out.write(chunk)
                    bar.update(len(chunk))
        os.replace(part, dest)
    finally:
        if part.exists():
            part.unlink()


def _check_member(dest: Path, name: str, is_link: bool, is_special: bool) -> Path:
    """Where archive member ``name`` would be written, or :class:`UnsafeArchiveError`."""
    if is_link or is_special:
        raise UnsafeArchiveError(f"archive member {name!r} is a link or special file; refusing to extract")
    target = (dest / name).resolve()
    if Path(name).is_absolute() or not target.is_relative_to(dest.resolve()):
        raise UnsafeArchiveError(f"archive member {name!r} would be written outside {dest}; refusing to extract")
    return target


def safe_extract(archive: str | Path, dest: str | Path) -> list[Path]:
    """Extract a ``.zip`` or tar archive into ``dest``, refusing unsafe archives.

    Every member is checked *before* anything is written: an absolute path, a path that
    resolves outside ``dest`` (``../evil``), a symbolic or hard link, or a device file
    rejects the whole archive with :class:`UnsafeArchiveError` (the "zip slip" and
    tar path-traversal attacks, CVE-2007-4559). Returns the files written.
    """
    archive, dest = Path(archive), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            targets = []
            for info in members:
                mode = info.external_attr >> 16
                targets.append(_check_member(dest, info.filename, stat.S_ISLNK(mode), False))
            for info, target in zip(members, targets):
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out)
                written.append(target)
        return written
    with tarfile.open(archive) as tf:
        members = tf.getmembers()
        targets = [_check_member(dest, m.name, m.issym() or m.islnk(), not (m.isfile() or m.isdir())) for m in members]
        for member, target in zip(members, targets):
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            src = tf.extractfile(member)
            assert src is not None  # regular files always have data
            with src, open(target, "wb") as out:
                shutil.copyfileobj(src, out)
            written.append(target)
    return written

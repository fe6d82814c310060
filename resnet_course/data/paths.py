"""Where the data and the decoded caches live: :func:`data_root`, :func:`cache_root`."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["DataNotFoundError", "cache_root", "data_root", "writable_dir"]


class DataNotFoundError(FileNotFoundError):
    """The data is not on disk and could not be downloaded; the message says what to do."""


def data_root(root: str | Path | None = None) -> Path:
    """The data folder: ``root`` if given, else ``$RESNET_COURSE_DATA``, else
    ``~/.cache/resnet_course/data``. Nothing is created here; a path that is a file raises
    :class:`DataNotFoundError` saying so (not a misleading "read-only" when a download is tried)."""
    source = ""
    if root is None:
        source = " (from $RESNET_COURSE_DATA)" if os.environ.get("RESNET_COURSE_DATA") else ""
        root = os.environ.get("RESNET_COURSE_DATA") or Path.home() / ".cache" / "resnet_course" / "data"
    path = Path(root).expanduser()
    if path.exists() and not path.is_dir():
        raise DataNotFoundError(f"the data folder {path}{source} is a file: give the folder that holds "
                                "cifar10-jpg/ or hands/ (--data-root, or $RESNET_COURSE_DATA)")
    return path


def writable_dir(path: Path) -> bool:
    """Create ``path`` if needed and say whether files may be written in it.

    Permission bits are honoured even for root, who could write anywhere: a folder marked
    read-only (like the course machines' shared data) is never written to.
    """

    def allowed(folder: Path) -> bool:
        return os.access(folder, os.W_OK | os.X_OK) and bool(folder.stat().st_mode & 0o222)

    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir() or not allowed(existing):
        return False
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return allowed(path)


def cache_root(cache: str | Path | None = None, *, data: str | Path | None = None) -> Path:
    """The folder for decoded-tensor caches (created if missing).

    ``cache`` if given, else ``$RESNET_COURSE_CACHE``, else ``<data root>/.cache`` when that
    is writable (the shared course data is read-only), else ``~/.cache/resnet_course/cache``,
    else a folder in the system's temporary directory.
    """
    explicit = cache if cache is not None else os.environ.get("RESNET_COURSE_CACHE")
    if explicit:
        path = Path(explicit).expanduser()
        path.mkdir(parents=True, exist_ok=True)
        return path
    candidates = [
        data_root(data) / ".cache",
        Path.home() / ".cache" / "resnet_course" / "cache",
        Path(tempfile.gettempdir()) / "resnet_course_cache",
    ]
    for path in candidates:
        if writable_dir(path):
            return path
    raise OSError(f"no writable cache folder among {[str(p) for p in candidates]}; set RESNET_COURSE_CACHE")

"""A run's folder on disk: files written atomically, a lock while a process writes there, and the
leftovers of a write that was killed half-way.

:func:`atomic_write` is how every checkpoint, result and weights file of the package is written: a
reader, a crash or Ctrl-C sees the old file or the new one, never half of one. :func:`folder_lock`
keeps two runs from writing the same folder (:class:`FolderInUseError`); :func:`remove_leftovers`
cleans the temporary files of a killed write at the next start.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from pathlib import Path
from typing import Any, Callable, Iterator

from resnet_course.training.history import PathLike

__all__ = ["atomic_copy", "atomic_write", "folder_lock", "FolderInUseError", "LOCK", "lock_holder",
           "remove_leftovers"]


class FolderInUseError(RuntimeError):
    """Another live process writes a run into the same folder (it holds the folder's lock)."""

    def __init__(self, folder: PathLike, pid: int | None) -> None:
        who = f"process {pid}" if pid is not None else "another process"
        super().__init__(f"{folder} is in use by {who}, which is writing a run there; wait for it to finish, "
                         "or choose another folder")
        self.folder, self.pid = Path(folder), pid


class _RememberingFile:
    """A file that remembers the ``OSError`` a write raised: ``torch.save`` turns it into an unhelpful
    ``RuntimeError`` ("enforce fail at inline_container.cc ... unexpected pos"), a full disk included."""

    def __init__(self, file: Any) -> None:
        self.file, self.error = file, None

    def write(self, data: Any) -> int:
        try:
            return self.file.write(data)
        except OSError as error:
            self.error = error
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self.file, name)


def atomic_write(path: Path, write: Callable[[Any], None]) -> None:
    """Write through a temporary file in the same folder, then rename it over ``path``.

    ``os.replace`` is atomic: a reader (or a crash, or Ctrl-C) sees the old file or the
    new one, never half of one. A process killed mid-write (``kill -9``) leaves its
    ``.<name>.<pid>.tmp`` behind; :func:`remove_leftovers` deletes it at the next start.
    A write that fails for want of space or permission raises the ``OSError`` itself
    (never ``torch.save``'s ``RuntimeError`` about it), naming ``path`` when it named no file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    file = None
    try:
        with open(tmp, "wb") as raw:
            file = _RememberingFile(raw)
            write(file)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, path)
    except BaseException as error:
        tmp.unlink(missing_ok=True)
        failed = file.error if file is not None and file.error is not None else error
        if not isinstance(failed, OSError) or (failed is error and failed.filename is not None):
            raise
        raise type(failed)(failed.errno, failed.strerror or str(failed), str(path)) from error


def atomic_copy(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` atomically (see :func:`save_checkpoint`)."""
    with open(source, "rb") as src:
        atomic_write(target, lambda f: shutil.copyfileobj(src, f))


_LEFTOVER = re.compile(r"\..+\.(\d+)\.tmp")


def _still_running(pid: int) -> bool:
    if os.name != "posix" or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except PermissionError:  # it runs, as another user
        return True
    except (ProcessLookupError, OverflowError, ValueError):
        return False
    return True


LOCK = ".lock"  # in a run's folder while a process writes its checkpoints: that process's id


def lock_holder(folder: PathLike) -> int | None:
    """The id of another live process that holds ``folder``'s lock (:func:`folder_lock`), else ``None``.

    A lock whose process no longer runs (killed with ``kill -9``) is stale: it is removed here.
    """
    path = Path(folder) / LOCK
    try:
        text = path.read_text().strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    pid = int(text) if text.isdigit() else 0
    if pid == os.getpid():
        return None
    if pid and _still_running(pid):
        return pid
    path.unlink(missing_ok=True)
    return None


@contextlib.contextmanager
def folder_lock(folder: PathLike) -> Iterator[Path]:
    """Hold ``folder``'s lock (``.lock``, holding this process's id) while writing a run there.

    Raises :class:`FolderInUseError` when another live process holds it: two runs writing the same
    ``last.pt`` and ``history.json`` would each silently overwrite the other's. A stale lock is taken over.
    """
    path = Path(folder) / LOCK
    for _ in range(2):
        try:
            descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            break
        except FileExistsError:
            holder = lock_holder(folder)
            if holder is not None:
                raise FolderInUseError(folder, holder) from None
    else:
        raise FolderInUseError(folder, None)
    with os.fdopen(descriptor, "w") as file:
        file.write(str(os.getpid()))
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def remove_leftovers(folder: PathLike) -> list[Path]:
    """Delete the temporary files of checkpoint writes that were killed half-way; returns them.

    Only files named as :func:`atomic_write` names them
    (``.<name>.<pid>.tmp``) and whose process no longer runs.
    """
    folder = Path(folder)
    removed: list[Path] = []
    if folder.is_dir():
        for path in sorted(folder.glob(".*.tmp")):
            match = _LEFTOVER.fullmatch(path.name)
            if match and not _still_running(int(match.group(1))):
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed

"""Files the user names: inputs are read only after their kind and size are checked, outputs
replace nothing but a regular file the user asked to replace.

Every ``OSError`` becomes a typed error whose message says what to do, never a traceback.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from .errors import InputFileError, OutputPathError

NAME_MAX = 255  # bytes in one part of a path (Linux, macOS and Windows file systems)
# The largest image file any command reads (verify, --reference, enrolment photos, subject images);
# the service has its own, lower, upload limit.
MAX_IMAGE_BYTES = 200 * 1024 * 1024
OUTPUT_SUFFIXES = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg"}

_HINTS = {
    errno.ENOENT: "no such file",
    errno.EACCES: "permission denied: make it readable by this user (chmod) or run as its owner",
    errno.EPERM: "permission denied: make it readable by this user (chmod) or run as its owner",
    errno.ENAMETOOLONG: f"the name is too long (over {NAME_MAX} bytes in one part of the path): rename it",
    errno.EISDIR: "is a folder, not a file",
    errno.ENOTDIR: "a part of the path is not a folder",
    errno.ELOOP: "too many levels of symbolic links",
    errno.ENXIO: "is a socket or a device, not a regular file",
}


def shown(path: str | os.PathLike) -> str:
    """``path`` for a message: a name too long to read is cut in the middle."""
    text = os.fspath(path)
    return text if len(text) <= 120 else f"{text[:60]}…{text[-40:]}"


def os_error_message(path: str | os.PathLike, exc: OSError) -> str:
    """What went wrong with ``path``, in words that say what to do."""
    return f"{shown(path)}: {_HINTS.get(exc.errno, exc.strerror or str(exc))}"


def file_kind(mode: int) -> str | None:
    """None for a regular file, else what the path is, for a message."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISLNK(mode):
        return "symbolic link"
    if stat.S_ISDIR(mode):
        return "folder"
    if stat.S_ISFIFO(mode):
        return "FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "special file"


def read_input(path: str | os.PathLike, max_bytes: int = MAX_IMAGE_BYTES) -> bytes:
    """The bytes of a regular file of at most ``max_bytes``, checked on the open file before it is
    read (a FIFO is opened without waiting for a writer, then refused); InputFileError otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise InputFileError(os_error_message(path, exc)) from None
    try:
        st = os.fstat(fd)
        kind = file_kind(st.st_mode)
        if kind is not None:
            raise InputFileError(f"{shown(path)}: is a {kind}, not a regular file")
        if st.st_size > max_bytes:
            raise InputFileError(f"{shown(path)}: {st.st_size / 2**20:.0f} MiB is larger than the "
                                 f"{max_bytes / 2**20:.0f} MiB this reads; use a smaller file")
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:  # it grew while being read
                raise InputFileError(f"{shown(path)}: larger than the {max_bytes / 2**20:.0f} MiB this reads")
        return b"".join(chunks)
    except OSError as exc:
        raise InputFileError(os_error_message(path, exc)) from None
    finally:
        os.close(fd)


def output_format(path: Path, fmt: str | None = None) -> str:
    """The image format an output path asks for (``png`` or ``jpeg``): its extension must be one
    we write and must agree with ``fmt`` when that is given, so the bytes match the name."""
    suffix = path.suffix.lower()
    named = OUTPUT_SUFFIXES.get(suffix)
    if named is None:
        raise OutputPathError(f"{shown(path)}: Pocket Studio writes PNG or JPEG; name the output "
                              f"{', '.join(OUTPUT_SUFFIXES)} (not {suffix or 'without an extension'})")
    if fmt is not None:
        wanted = "jpeg" if fmt.lower() == "jpg" else fmt.lower()
        if wanted != named:
            raise OutputPathError(f"{shown(path)}: the extension {suffix} says {named.upper()}, but the format asked "
                                  f"for is {fmt!r}; make them agree")
    return named


def check_output_path(path: Path, overwrite: bool = False) -> None:
    """Refuse, before any work is spent, an output path the release could not publish safely:
    a name that is too long, a missing or unwritable folder, anything there that is not a regular
    file (device, FIFO, socket, folder, symbolic link — to anything: the link itself is refused,
    name its target), and an existing file unless ``overwrite``."""
    name = path.name
    if name in ("", ".", ".."):
        raise OutputPathError(f"{shown(path)} names a folder; give a file name ending in .png or .jpg")
    if len(os.fsencode(name)) > NAME_MAX:
        raise OutputPathError(f"{shown(path)}: the file name is over {NAME_MAX} bytes; choose a shorter one")
    parent = path.parent
    try:
        if not stat.S_ISDIR(os.stat(parent).st_mode):
            raise OutputPathError(f"output folder {shown(parent)} is not a folder")
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            raise OutputPathError(f"output folder {shown(parent)} does not exist; create it first") from None
        raise OutputPathError(f"output folder {os_error_message(parent, exc)}") from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputPathError(f"cannot create files in {shown(parent)}: permission denied; choose another folder")
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise OutputPathError(os_error_message(path, exc)) from None
    _refuse_existing(path, st.st_mode, overwrite)


def _refuse_existing(path: Path, mode: int, overwrite: bool) -> None:
    kind = file_kind(mode)
    if kind is not None:
        raise OutputPathError(f"{shown(path)} is a {kind}; the image will not replace it. Give the path of a "
                              f"new file, or of a regular file with --force")
    if not overwrite:
        raise OutputPathError(f"{shown(path)} exists; pass --force to replace it, or choose another name")
    if not os.access(path, os.W_OK):
        raise OutputPathError(f"{shown(path)} is read-only; it is not replaced")


def publish(staged: Path, path: Path, overwrite: bool = False) -> None:
    """Give the staged file its final name without replacing what :func:`check_output_path`
    refuses, even if it appeared since that check. Without ``overwrite``: a hard link, which fails
    if the name exists in any form, then the staged name is removed. With it (or on a file system
    without hard links): a last ``lstat``, then the atomic rename (which never follows a link)."""
    if not overwrite:
        try:
            os.link(staged, path, follow_symlinks=False)
        except FileExistsError:
            raise OutputPathError(f"{shown(path)} appeared while the image was made; it was not replaced") from None
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
                raise
        else:
            try:
                os.unlink(staged)
            except OSError:
                pass  # the published name is complete; the caller removes a leftover staged name
            return
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        pass
    else:
        _refuse_existing(path, st.st_mode, overwrite)
    os.replace(staged, path)

"""Streamed, re-readable multipart/form-data bodies.

A body is encoded as it is sent, a megabyte of file at a time, so a
multi-gigabyte upload costs no more memory than a small one; its length is
known from the sizes of its parts (a real Content-Length, not chunked
encoding); and every new iteration starts over from the beginning (a file is
rewound to where it started, a path reopened), so a retry resends it whole.

A source whose size says nothing about its content (a pipe, a FIFO, a device,
`/dev/stdin`, a file object that cannot seek, a /proc file) is read to its end
once, when the body is built, into a temporary file: in memory up to a
megabyte, then on disk, deleted when the body is. Its length is then exact and
a retry can replay it; it is never sent short.

A part sends exactly the size it declared when the body was built, since the
Content-Length promised it: a file that grew since is sent as it was then (its
first `size` bytes); one that shrank, vanished or failed to read raises
`UploadSourceError` mid-body, which aborts the connection and is not retried.
"""
from __future__ import annotations

import mimetypes
import os
import secrets
import stat
import tempfile
from pathlib import PurePath
from typing import IO, Any, Iterator, Sequence

from .errors import UploadSourceError

__all__ = ["FilePart", "file_part", "MultipartBody", "sniff", "UploadSourceError"]

_BLOCK = 1 << 20
_SPOOL_MEMORY = 1 << 20  # a spooled source past this goes to disk

# Leading bytes of the formats the API takes, for content given without a name.
_MAGIC: tuple[tuple[int, bytes, str, str], ...] = (
    (0, b"\x89PNG\r\n\x1a\n", ".png", "image/png"),
    (0, b"\xff\xd8\xff", ".jpg", "image/jpeg"),
    (0, b"GIF87a", ".gif", "image/gif"),
    (0, b"GIF89a", ".gif", "image/gif"),
    (8, b"WEBP", ".webp", "image/webp"),
    (8, b"WAVE", ".wav", "audio/wav"),
    (0, b"ID3", ".mp3", "audio/mpeg"),
    (0, b"\xff\xfb", ".mp3", "audio/mpeg"),
    (0, b"\xff\xf3", ".mp3", "audio/mpeg"),
    (0, b"fLaC", ".flac", "audio/flac"),
    (0, b"OggS", ".ogg", "audio/ogg"),
    (0, b"\x1a\x45\xdf\xa3", ".webm", "audio/webm"),
    (4, b"ftypM4A", ".m4a", "audio/mp4"),
    (4, b"ftyp", ".mp4", "video/mp4"),
    (0, b"%PDF-", ".pdf", "application/pdf"),
)


def sniff(head: bytes) -> tuple[str, str] | None:
    """(extension, content type) for well-known leading bytes, else None."""
    for offset, magic, ext, ctype in _MAGIC:
        if head[offset:offset + len(magic)] == magic:
            return ext, ctype
    return None


class FilePart:
    """One file to upload: where its bytes come from, and the name and type it goes out with."""

    __slots__ = ("filename", "content_type", "_data", "_path", "_fh", "_start", "size")

    def __init__(self, filename: str, content_type: str, size: int, *, data: memoryview | None = None,
                 path: str | None = None, fh: IO[bytes] | None = None, start: int = 0) -> None:
        self.filename, self.content_type, self.size = filename, content_type, size
        self._data, self._path, self._fh, self._start = data, path, fh, start

    @property
    def path(self) -> str | None:
        """The path the bytes were named by (read from a spooled copy when it is not a regular file)."""
        return self._path

    def chunks(self) -> Iterator[bytes | memoryview]:
        """The part's bytes: exactly `size` of them."""
        if self._data is not None:
            for i in range(0, len(self._data), _BLOCK):
                yield self._data[i:i + _BLOCK]
            return
        source = self._path if self._path is not None else repr(self.filename)
        try:
            if self._fh is not None:
                self._fh.seek(self._start)
                yield from _read_exactly(self._fh, self.size, source)
                return
            with open(self._path, "rb") as fh:  # type: ignore[arg-type]
                yield from _read_exactly(fh, self.size, source)
        except OSError as exc:
            raise UploadSourceError(f"cannot read {source} to upload it: {exc.strerror or exc}") from exc

    def __repr__(self) -> str:
        return f"FilePart({self.filename!r}, {self.content_type!r}, size={self.size})"


def _spool(fh: Any, source: str) -> tuple[IO[bytes], int]:
    """Read a source of unknown length to its end into a temporary file; return it rewound, and its size."""
    spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_MEMORY)
    size = 0
    try:
        while True:
            try:
                block = fh.read(_BLOCK)
            except OSError as exc:
                raise UploadSourceError(f"cannot read {source} to upload it: {exc.strerror or exc}") from exc
            if block is None:  # what a non-blocking stream gives when no data is ready: not its end
                raise UploadSourceError(f"{source} is a non-blocking stream with no data ready: "
                                        "it cannot be read to its end to upload it")
            if not block:
                break
            if not isinstance(block, (bytes, bytearray)):
                raise TypeError("the file object gave text, not bytes: open it in binary mode ('rb')")
            try:
                spool.write(block)
            except OSError as exc:
                raise UploadSourceError(f"cannot copy {source} to a temporary file to upload it: "
                                        f"{exc.strerror or exc}") from exc
            size += len(block)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool, size


def _seekable_size(fh: Any) -> tuple[int, int] | None:
    """(start, size) of a file object whose size seeking tells, else None: it must be read to be known.

    Seeking tells nothing for a device (/dev/zero seeks to 0 for its end) or for a
    file whose size is 0 yet has content (/proc); an in-memory object has no
    file descriptor, and seeking is the truth for it.
    """
    if not _seekable(fh):
        return None
    try:
        kind: int | None = os.fstat(fh.fileno()).st_mode
    except (AttributeError, OSError, TypeError, ValueError):  # no descriptor (io.BytesIO)
        kind = None
    if kind is not None and not stat.S_ISREG(kind):
        return None
    try:
        start = fh.tell()
        end = fh.seek(0, os.SEEK_END)
        fh.seek(start)
    except OSError:  # a /proc file cannot seek to its end
        return None
    if kind is not None and end == 0:
        return None
    return start, end - start


def _read_exactly(fh: IO[bytes], size: int, source: str) -> Iterator[bytes]:
    """`size` bytes and no more: what the body's Content-Length promised the server."""
    left = size
    while left:
        block = fh.read(min(left, _BLOCK))
        if not block:
            raise UploadSourceError(f"{source} ended after {size - left} of the {size} bytes declared for it: "
                                    "the file changed while it was being uploaded")
        if not isinstance(block, (bytes, bytearray)):
            raise TypeError("the file object gave text, not bytes: open it in binary mode ('rb')")
        if len(block) > left:  # a file-like object that hands out more than it was asked for
            block = block[:left]
        left -= len(block)
        yield block


def _seekable(fh: Any) -> bool:
    try:
        return bool(fh.seekable()) if hasattr(fh, "seekable") else False
    except (OSError, ValueError):
        return False


def file_part(value: Any, *, default_filename: str = "upload",
              default_content_type: str = "application/octet-stream") -> FilePart:
    """Accept bytes, a binary file object, a pathlib.Path, or (filename, content[, content_type])."""
    filename = content_type = None
    if isinstance(value, tuple):
        if len(value) not in (2, 3):
            raise TypeError("a file tuple is (filename, content) or (filename, content, content_type)")
        filename = value[0]
        content_type = value[2] if len(value) == 3 else None
        value = value[1]
        if not isinstance(filename, str) or not (content_type is None or isinstance(content_type, str)):
            raise TypeError("a file tuple's filename and content type must be strings")
    return _part(value, filename, content_type, default_filename, default_content_type)


def _part(value: Any, filename: str | None, content_type: str | None, default_filename: str,
          default_content_type: str) -> FilePart:
    head = b""
    kw: dict[str, Any]
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = memoryview(value).cast("B")
        head = bytes(data[:16])
        kw = {"data": data, "size": len(data)}
    elif isinstance(value, os.PathLike):
        path = os.fspath(value)
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        try:
            fh = open(path, "rb")  # a FIFO: waits here for its writer, as curl does
        except OSError as exc:
            raise TypeError(f"cannot read {path}: {exc.strerror}") from None
        with fh:
            info = os.fstat(fh.fileno())
            if stat.S_ISREG(info.st_mode) and info.st_size:
                try:
                    head = fh.read(16)
                except OSError as exc:
                    raise UploadSourceError(f"cannot read {path} to upload it: {exc.strerror or exc}") from exc
                kw = {"path": path, "size": info.st_size}
            else:  # a pipe, a device, a /proc file: what it holds is what it reads
                spool, size = _spool(fh, path)
                head = spool.read(16)
                kw = {"path": path, "fh": spool, "size": size}
        filename = filename or PurePath(path).name
    elif isinstance(value, str):
        raise TypeError("a str is ambiguous as a file: pass pathlib.Path(...) for a file on disk "
                        "or bytes for its content")
    elif callable(getattr(value, "read", None)):
        mode = getattr(value, "mode", "b")
        if isinstance(mode, str) and "b" not in mode and mode:
            raise TypeError("a text-mode file cannot be uploaded: open it with 'rb'")
        name = getattr(value, "name", None)
        if filename is None and isinstance(name, str) and name and not name.startswith("<"):
            filename = os.path.basename(name)
        known = _seekable_size(value)
        if known is not None:
            start, size = known
            head = value.read(16)
            value.seek(start)
            if not isinstance(head, (bytes, bytearray)):
                raise TypeError("a text-mode file cannot be uploaded: open it with 'rb'")
            kw = {"fh": value, "start": start, "size": size}
        else:
            spool, size = _spool(value, repr(name) if isinstance(name, str) and name else "the file object")
            head = spool.read(16)
            kw = {"fh": spool, "size": size}
    else:
        raise TypeError("a file must be bytes, a binary file object, a pathlib.Path or a "
                        f"(filename, content[, content_type]) tuple, not {type(value).__name__}")
    if filename is None:
        found = sniff(head)
        filename = default_filename + (found[0] if found and not os.path.splitext(default_filename)[1] else "")
        content_type = content_type or (found[1] if found else None)
    if content_type is None:
        content_type = mimetypes.guess_type(filename)[0] or default_content_type
    return FilePart(filename, content_type, **kw)


def _quote(text: str) -> str:
    """Quote a name for a Content-Disposition header the way browsers do (RFC 7578 section 2)."""
    return text.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


class MultipartBody:
    """A multipart/form-data body that encodes itself while it is sent."""

    def __init__(self, fields: Sequence[tuple[str, str]], files: Sequence[tuple[str, FilePart]],
                 boundary: str | None = None) -> None:
        self.fields = list(fields)
        self.files = list(files)
        self.boundary = boundary or secrets.token_hex(16)
        self.content_type = f"multipart/form-data; boundary={self.boundary}"
        b = self.boundary.encode("ascii")
        self._field_bytes = [
            b"--" + b + b'\r\nContent-Disposition: form-data; name="' + _quote(name).encode() + b'"\r\n\r\n'
            + value.encode("utf-8") + b"\r\n" for name, value in self.fields]
        self._file_heads = [
            b"--" + b + b'\r\nContent-Disposition: form-data; name="' + _quote(name).encode()
            + b'"; filename="' + _quote(part.filename).encode() + b'"\r\nContent-Type: '
            + part.content_type.replace("\r", "").replace("\n", "").encode() + b"\r\n\r\n"
            for name, part in self.files]
        self._tail = b"--" + b + b"--\r\n"
        self.length = (sum(map(len, self._field_bytes)) + sum(map(len, self._file_heads))
                       + sum(part.size for _, part in self.files) + 2 * len(self.files) + len(self._tail))

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[bytes | memoryview]:
        fields = b"".join(self._field_bytes)
        if fields:
            yield fields
        for head, (_, part) in zip(self._file_heads, self.files):
            yield head
            yield from part.chunks()
            yield b"\r\n"
        yield self._tail

    def __repr__(self) -> str:
        return f"<MultipartBody fields={len(self.fields)} files={[p.filename for _, p in self.files]} length={self.length}>"

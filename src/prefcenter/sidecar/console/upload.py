"""A multipart form with one file, read as it arrives: the file straight to disk.

The list check's upload may be tens of megabytes. Starlette's form reader would keep
the first megabyte in memory and spool the rest to the system's temporary directory;
this reader writes the file part, chunk by chunk, to the path it is given (under
``VAR_DIR``, where the check's results live), keeps only the small text fields, and
calls ``before_file`` with the fields read so far before it writes a byte of the file
(the form puts its CSRF token first, so a forged or stale form stores nothing).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from python_multipart import MultipartParser
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import parse_options_header
from starlette.exceptions import HTTPException
from starlette.requests import Request

from prefcenter.errors import InvalidInput

#: Text fields a form may carry, and the bytes each may hold.
MAX_FIELDS = 20
MAX_FIELD_BYTES = 4096


@dataclass
class Upload:
    """What the form held.

    Attributes:
        fields: the text fields, by name (the last one wins).
        filename: the file's name as the browser sent it ("" when no file was chosen).
        size: bytes of the file written to the destination.
    """

    fields: dict[str, str] = field(default_factory=dict)
    filename: str = ""
    size: int = 0


class _Reader:
    """The parser's callbacks: one part at a time, text to ``fields``, the file to disk."""

    def __init__(
        self, dest: Path, before_file: Callable[[dict[str, str]], None], max_bytes: int
    ) -> None:
        self.dest, self.before_file, self.max_bytes = dest, before_file, max_bytes
        self.upload = Upload()
        self.headers: dict[bytes, bytes] = {}
        self.header_name = b""
        self.header_value = b""
        self.name = ""
        self.text: bytearray | None = None
        self.file: IO[bytes] | None = None
        self.files = 0

    def on_part_begin(self) -> None:
        self.headers, self.text, self.name = {}, None, ""

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        self.headers[self.header_name.lower()] = self.header_value
        self.header_name = self.header_value = b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self.headers.get(b"content-disposition", b""))
        self.name = options.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" not in options:
            if len(self.upload.fields) >= MAX_FIELDS:
                raise HTTPException(413)
            self.text = bytearray()
            return
        self.files += 1
        if self.files > 1:
            raise InvalidInput("Upload one file at a time.")
        self.before_file(dict(self.upload.fields))
        self.upload.filename = options[b"filename"].decode("utf-8", "replace")
        self.file = self.dest.open("wb")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.text is not None:
            self.text += data[start:end]
            if len(self.text) > MAX_FIELD_BYTES:
                raise HTTPException(413)
        elif self.file is not None:
            self.upload.size += end - start
            if self.upload.size > self.max_bytes:
                raise HTTPException(413)
            self.file.write(data[start:end])

    def on_part_end(self) -> None:
        if self.text is not None:
            self.upload.fields[self.name] = self.text.decode("utf-8", "replace")
            self.text = None
        elif self.file is not None:
            self.file.close()
            self.file = None

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


async def receive_upload(
    request: Request, dest: Path, before_file: Callable[[dict[str, str]], None], max_bytes: int
) -> Upload:
    """Read ``request``'s multipart form; its one file part goes to ``dest``.

    Raises:
        HTTPException: 413 when the file is over ``max_bytes`` or a field over
            :data:`MAX_FIELD_BYTES`; 400 when the body is not a multipart form.
        InvalidInput: more than one file.
        Exception: whatever ``before_file`` raises (nothing of the file is written).
    """
    _, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if not boundary:
        raise HTTPException(400)
    reader = _Reader(dest, before_file, max_bytes)
    callbacks = {
        "on_part_begin": reader.on_part_begin,
        "on_part_data": reader.on_part_data,
        "on_part_end": reader.on_part_end,
        "on_header_field": reader.on_header_field,
        "on_header_value": reader.on_header_value,
        "on_header_end": reader.on_header_end,
        "on_headers_finished": reader.on_headers_finished,
    }
    parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError:
        raise HTTPException(400) from None
    finally:
        reader.close()
    return reader.upload


__all__ = ["Upload", "receive_upload"]

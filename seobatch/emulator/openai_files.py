"""The OpenAI Files API (``/v1/files…``): upload, get/list/delete, download, batch output files.

A multipart upload with a ``.jsonl`` name is streamed from the socket to a temp file and a
download streams from disk, so a 200 MB input never sits in memory. The gates and the error
shape are ``openai_api``'s; the batches' output and error files are written there too
(``openai_api.ensure_files``) and served here like any other file.
"""

from __future__ import annotations

import os
from typing import Any

from . import multipart
from .openai_api import NAME, error
from .state import StoredFile, new_openai_id
from .wire import Request, Response, iter_file, mid_line

PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
MAX_BATCH_FILE_BYTES = 200 * 1024 * 1024
MAX_FILE_BYTES = 512 * 1024 * 1024
FILE_TTL = 30 * 24 * 3600


def file_json(f: StoredFile) -> dict[str, Any]:
    return {"id": f.name, "object": "file", "bytes": f.size, "created_at": int(f.created),
            "filename": f.display_name, "purpose": f.purpose, "status": "processed",
            "expires_at": int(f.created) + FILE_TTL, "status_details": None}


def upload(emu: Any, req: Request) -> Response:
    """``POST /v1/files``: multipart ``purpose`` + ``file``, the file streamed to disk."""
    boundary = multipart.boundary_of(req.header("content-type"))
    if boundary is None:
        return error(emu, req, 400, "Expected a multipart/form-data body with a boundary.")
    fields: dict[str, bytearray] = {}
    upload_file: dict[str, Any] = {}
    path = emu.store.new_path("openai-upload-")
    too_big = False

    def open_part(headers: dict[str, str]):
        nonlocal too_big
        params = multipart.disposition_params(headers.get("content-disposition", ""))
        name = params.get("name", "")
        if "filename" in params and name == "file":
            upload_file.update(filename=params["filename"], size=0, fh=open(path, "wb"))

            def write_file(data: bytes) -> None:
                nonlocal too_big
                upload_file["size"] += len(data)
                limit = MAX_BATCH_FILE_BYTES if bytes(fields.get("purpose", b"")) == b"batch" else MAX_FILE_BYTES
                if upload_file["size"] > limit:
                    too_big = True
                if not too_big:
                    upload_file["fh"].write(data)
            return write_file
        value = fields.setdefault(name, bytearray())

        def write_field(data: bytes) -> None:
            if len(value) + len(data) > 64 * 1024:
                raise multipart.MultipartError(f"form field {name!r} is too long")
            value.extend(data)
        return write_field

    try:
        multipart.parse(req.body, boundary, open_part)
    except multipart.MultipartError as exc:
        _discard(upload_file, path)
        req.body.drain()
        return error(emu, req, 400, f"Could not parse multipart form: {exc}")
    finally:
        if "fh" in upload_file:
            upload_file["fh"].close()
    emu.store.count(NAME, "bytes_uploaded", upload_file.get("size", 0))
    purpose = bytes(fields.get("purpose", b"")).decode("utf-8", "replace")
    problem = None
    if not upload_file:
        problem = ("file", "Missing required parameter: 'file'.")
    elif not purpose:
        problem = ("purpose", "Missing required parameter: 'purpose'.")
    elif purpose not in PURPOSES:
        problem = ("purpose", f"Invalid value for 'purpose': {purpose!r}.")
    elif too_big:
        problem = ("file", "File is too large.")
    elif purpose == "batch" and not upload_file["filename"].endswith(".jsonl"):
        problem = ("file", "Invalid file format for Batch API. Must be .jsonl")
    elif purpose == "batch" and not _utf8(path):
        problem = ("file", "Invalid file for Batch API. Must be utf-8 encoded")
    else:
        for name in ("expires_after[seconds]", "expires_after.seconds"):
            raw = bytes(fields.get(name, b"")).decode("utf-8", "replace")
            if raw and (not raw.isdigit() or not 3600 <= int(raw) <= 2_592_000):
                problem = ("expires_after.seconds", "expires_after.seconds must be between 3600 and 2592000.")
    if problem is not None:
        _discard(upload_file, path)
        return error(emu, req, 400, problem[1], param=problem[0])
    stored = emu.store.add_file(StoredFile(
        name=new_openai_id("file-"), display_name=upload_file["filename"], mime_type="application/jsonl",
        size=upload_file["size"], sha256="", created=emu.store.now(), source="UPLOADED", path=path,
        provider=NAME, purpose=purpose))
    return Response.json(file_json(stored))


def _discard(upload_file: dict[str, Any], path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _utf8(path: str) -> bool:
    import codecs  # only the upload check needs an incremental decoder

    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        for piece in iter_file(path):
            decoder.decode(piece)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _stored(emu: Any, req: Request) -> StoredFile | Response:
    f = emu.store.get_file(req.params["id"])
    if f is None or f.provider != NAME:
        return error(emu, req, 404, f"No such File object: {req.params['id']}", param="id")
    if f.source == "GENERATED" and emu.store.faults.results_gone:
        return error(emu, req, 404, f"No such File object: {req.params['id']}", param="id")
    return f


def get_file(emu: Any, req: Request) -> Response:
    f = _stored(emu, req)
    return f if isinstance(f, Response) else Response.json(file_json(f))


def list_files(emu: Any, req: Request) -> Response:
    try:
        limit = int(req.arg("limit", "10000"))
    except ValueError:
        return error(emu, req, 400, "limit must be an integer", param="limit")
    if not 1 <= limit <= 10_000:
        return error(emu, req, 400, "limit must be between 1 and 10000", param="limit")
    files = emu.store.list_files(NAME)
    if req.arg("order") == "asc":
        files.reverse()
    purpose = req.arg("purpose")
    if purpose:
        files = [f for f in files if f.purpose == purpose]
    return _page(req, [file_json(f) for f in files], limit)


def delete_file(emu: Any, req: Request) -> Response:
    f = _stored(emu, req)
    if isinstance(f, Response):
        return f
    emu.store.delete_file(f.name)
    return Response.json({"id": f.name, "object": "file", "deleted": True})


def content(emu: Any, req: Request) -> Response:
    f = _stored(emu, req)
    if isinstance(f, Response):
        return f
    size = os.path.getsize(f.path)
    cut = None
    if f.source == "GENERATED" and size and emu.store.take_one_shot("truncate_results"):
        emu.store.count_fault("truncated")
        cut = mid_line(f.path, size)
    emu.store.count(NAME, "bytes_downloaded", size if cut is None else cut)
    return Response(body=iter_file(f.path, stop=cut), length=size, content_type="application/octet-stream",
                    incomplete=cut is not None)


def _page(req: Request, data: list[dict[str, Any]], limit: int) -> Response:
    """A cursor page: the items after ``after`` (an id), ``has_more`` always sent."""
    after = req.arg("after")
    start = 0
    if after:
        ids = [d["id"] for d in data]
        start = ids.index(after) + 1 if after in ids else len(ids)
    page = data[start:start + limit]
    return Response.json({"object": "list", "data": page,
                          "first_id": page[0]["id"] if page else None,
                          "last_id": page[-1]["id"] if page else None,
                          "has_more": start + limit < len(data)})


_FILE = r"/v1/files/(?P<id>[^/]+)"
ROUTES = [
    ("POST", r"/v1/files", "upload", upload),
    ("GET", r"/v1/files", "file_list", list_files),
    ("GET", _FILE, "file_get", get_file),
    ("DELETE", _FILE, "file_delete", delete_file),
    ("GET", _FILE + "/content", "download", content),
]

"""The Gemini Files API: resumable upload, get/list/delete, download, batch output files.

Upload bytes go straight from the socket to a temp file and downloads stream from disk,
so a 60 MB input or a large responses file never sits in memory. The upload-start reply
carries an absolute ``X-Goog-Upload-URL`` on our own host whose session id authorises the
chunks (the SDK sends them without a key); every chunk reply carries
``X-Goog-Upload-Status`` (``active``, or ``final`` after finalize or an error).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from . import gemini_api
from .contract import Route
from .gemini_api import VERSION_RE, error, ok, proto_field
from .state import StoredFile, UploadSession, new_id, rfc3339
from .wire import Request, Response, iter_file, mid_line, sha256_b64

if TYPE_CHECKING:
    from .app import Emulator

CHUNK_GRANULARITY = 256 * 1024
FILE_TTL = 48 * 3600


def file_json(req: Request, f: StoredFile) -> dict[str, Any]:
    v = req.params.get("v", f.api_version)
    bare = f.name.removeprefix("files/")
    out: dict[str, Any] = {
        "name": f.name, "mimeType": f.mime_type, "sizeBytes": str(f.size),
        "createTime": rfc3339(f.created), "updateTime": rfc3339(f.created),
        "expirationTime": rfc3339(f.created + FILE_TTL), "sha256Hash": f.sha256,
        "uri": f"{req.base_url}/{v}/files/{bare}", "state": "ACTIVE", "source": f.source,
    }
    if f.display_name:
        out["displayName"] = f.display_name
    if f.source == "GENERATED":
        out["downloadUri"] = f"{req.base_url}/download/{v}/files/{bare}:download?alt=media"
    return out


# -- upload ---------------------------------------------------------------------------------
def upload_op(req: Request) -> str:
    return "upload" if req.arg("upload_id") else "upload_start"


def upload(emu: Emulator, req: Request) -> Response:
    return _chunk(emu, req) if req.op == "upload" else _start(emu, req)


def _start(emu: Emulator, req: Request) -> Response:
    protocol = (req.header("X-Goog-Upload-Protocol") or "").lower()
    command = (req.header("X-Goog-Upload-Command") or "").lower()
    if protocol != "resumable" or command != "start":
        return error(emu, req, 400, "Only resumable uploads (X-Goog-Upload-Protocol: resumable, "
                                    "X-Goog-Upload-Command: start) are supported by this emulator.")
    body = req.json(1 << 20, empty={})
    meta = proto_field(body, "file") or {}
    if not isinstance(meta, dict):
        return error(emu, req, 400, "Invalid JSON payload received. 'file' must be an object.")
    declared = req.header("X-Goog-Upload-Header-Content-Length") or proto_field(meta, "sizeBytes")
    try:
        size = int(declared) if declared is not None else None
    except ValueError:
        return error(emu, req, 400, f"Invalid upload size {declared!r}.")
    name = proto_field(meta, "name")
    if name is not None:
        name = name if str(name).startswith("files/") else f"files/{name}"
        if emu.store.get_file(name) is not None:
            return error(emu, req, 409, f"File {name} already exists.")
    mime = (req.header("X-Goog-Upload-Header-Content-Type") or proto_field(meta, "mimeType")
            or "application/octet-stream")
    session = UploadSession(id=new_id("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-", 48),
                            path=emu.store.new_path("upload-"), declared_size=size, mime_type=str(mime),
                            display_name=str(proto_field(meta, "displayName") or ""), name=name,
                            api_version=req.params["v"])
    emu.store.add_upload(session)
    upload_url = f"{req.base_url}/upload/{req.params['v']}/files?upload_id={session.id}&upload_protocol=resumable"
    return Response(headers=[("X-Goog-Upload-URL", upload_url), ("X-Goog-Upload-Control-URL", upload_url),
                             ("X-Goog-Upload-Status", "active"),
                             ("X-Goog-Upload-Chunk-Granularity", str(CHUNK_GRANULARITY))],
                    content_type="text/plain; charset=utf-8")


def _chunk(emu: Emulator, req: Request) -> Response:
    session = emu.store.get_upload(req.arg("upload_id") or "")
    if session is None:
        return error(emu, req, 404, "No active upload session with this id.")
    commands = {c.strip() for c in (req.header("X-Goog-Upload-Command") or "").lower().split(",") if c.strip()}
    with session.lock:
        if commands == {"query"}:
            return _active(session)
        if commands == {"cancel"}:
            emu.store.end_upload(session.id)
            return Response(headers=[("X-Goog-Upload-Status", "cancelled")])
        if not commands or not commands <= {"upload", "finalize"}:
            return error(emu, req, 400, f"Unknown X-Goog-Upload-Command {req.header('X-Goog-Upload-Command')!r}.")
        if "upload" in commands:
            try:
                offset = int(req.header("X-Goog-Upload-Offset") or "")
            except ValueError:
                return error(emu, req, 400, "X-Goog-Upload-Offset is required with X-Goog-Upload-Command: upload.")
            if offset > session.received:
                return error(emu, req, 400, f"Upload offset {offset} is past the {session.received} bytes received.")
            written = _write(session, offset, req)
            emu.store.count(gemini_api.NAME, "bytes_uploaded", written)
            if session.declared_size is not None and session.received > session.declared_size:
                emu.store.end_upload(session.id)
                return error(emu, req, 400, f"Received {session.received} bytes, more than the declared "
                                            f"{session.declared_size}.")
        if "finalize" not in commands:
            return _active(session)
        if session.declared_size is not None and session.received != session.declared_size:
            emu.store.end_upload(session.id)
            return error(emu, req, 400, f"Upload finalized after {session.received} bytes; "
                                        f"{session.declared_size} were declared.")
        emu.store.end_upload(session.id)
        stored = emu.store.add_file(StoredFile(
            name=session.name or f"files/{new_id('abcdefghijklmnopqrstuvwxyz0123456789', 12)}",
            display_name=session.display_name, mime_type=session.mime_type, size=session.received,
            sha256=sha256_b64(session.path), created=emu.store.now(), source="UPLOADED",
            path=session.path, api_version=session.api_version))
    resp = ok({"file": file_json(req, stored)})
    resp.headers.append(("X-Goog-Upload-Status", "final"))
    return resp


def _active(session: UploadSession) -> Response:
    return Response(headers=[("X-Goog-Upload-Status", "active"),
                             ("X-Goog-Upload-Size-Received", str(session.received))],
                    content_type="text/plain; charset=utf-8")


def _write(session: UploadSession, offset: int, req: Request) -> int:
    """Copy the chunk from the socket to the session file at ``offset`` (a re-sent chunk overwrites)."""
    written = 0
    with open(session.path, "r+b") as fh:
        fh.seek(offset)
        for piece in req.body:
            fh.write(piece)
            written += len(piece)
        fh.truncate()
    session.received = offset + written
    return written


# -- files ----------------------------------------------------------------------------------
def _stored(emu: Emulator, req: Request) -> StoredFile | Response:
    name = f"files/{req.params['id']}"
    f = emu.store.get_file(name)
    if f is None:
        return error(emu, req, 403, f"You do not have permission to access the File {req.params['id']} "
                                    "or it may not exist.")
    if f.source == "GENERATED" and emu.store.faults.results_gone:
        return error(emu, req, 404, f"File {name} has expired and is no longer available.")
    return f


def get_file(emu: Emulator, req: Request) -> Response:
    f = _stored(emu, req)
    return f if isinstance(f, Response) else ok(file_json(req, f))


def list_files(emu: Emulator, req: Request) -> Response:
    try:
        size = min(100, max(1, int(req.arg("pageSize") or req.arg("page_size") or 10)))
        start = int(req.arg("pageToken") or req.arg("page_token") or 0)
    except ValueError:
        return error(emu, req, 400, "Invalid page token or page size.")
    files = emu.store.list_files()
    out: dict[str, Any] = {}
    if files[start:start + size]:
        out["files"] = [file_json(req, f) for f in files[start:start + size]]
    if start + size < len(files):
        out["nextPageToken"] = str(start + size)
    return ok(out)


def delete_file(emu: Emulator, req: Request) -> Response:
    f = _stored(emu, req)
    if isinstance(f, Response):
        return f
    emu.store.delete_file(f.name)
    return ok({})


def download(emu: Emulator, req: Request) -> Response:
    if req.arg("alt") != "media":
        return error(emu, req, 400, "Downloads need ?alt=media.")
    f = _stored(emu, req)
    if isinstance(f, Response):
        return f
    size = os.path.getsize(f.path)
    cut = None
    if f.source == "GENERATED" and emu.store.take_one_shot("truncate_results"):
        emu.store.count_fault("truncated")
        cut = mid_line(f.path, size)
    emu.store.count(gemini_api.NAME, "bytes_downloaded", size if cut is None else cut)
    return Response(body=iter_file(f.path, stop=cut), length=size, content_type=f.mime_type,
                    incomplete=cut is not None)


_FILE = VERSION_RE + r"/files/(?P<id>[^/:]+)"  # one file: files/{id}
ROUTES: list[Route] = [
    ("POST", "/upload/" + VERSION_RE + "/files", upload_op, upload),
    ("GET", "/" + VERSION_RE + "/files", "file_list", list_files),
    ("GET", "/" + _FILE, "file_get", get_file),
    ("DELETE", "/" + _FILE, "file_delete", delete_file),
    ("GET", r"(?:/download)?/" + _FILE + ":download", "download", download),
]

"""Gemini Batch API (placeholder until the Gemini half lands)."""

from __future__ import annotations

from typing import Any

from .wire import Request, Response

NAME = "gemini"
ROUTES: list = []


def decorate(req: Request, resp: Response) -> Response:
    return resp


def authorize(emu: Any, req: Request) -> Response | None:
    return None


def error(emu: Any, req: Request, status: int, message: str | None, **kw: Any) -> Response:
    return Response.json({"error": {"code": status, "message": message or "error"}}, status=status)


def too_large(emu: Any, req: Request, size: int) -> Response:
    return error(emu, req, 400, "too large")

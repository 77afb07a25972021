"""The web page's users (``seobatch web adduser``) and their roles; a table of a later
schema version than the pipeline's (``WEB_MODELS``)."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Final

import peewee

from .db import StringField
from .errors import ValidationError
from .models import BaseModel


class Role(StrEnum):
    """What a user may do; each role can do everything the ones before it can."""

    VIEWER = "viewer"  #: reads runs, jobs, previews
    REVIEWER = "reviewer"  #: also approves and rejects revisions
    ADMIN = "admin"  #: also cancels jobs and rolls back


ROLES: Final = tuple(Role)
_RANK: Final = {role: rank for rank, role in enumerate(ROLES)}
USER_NAME_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


def role_allows(role: str, needed: str) -> bool:
    """True when ``role`` includes ``needed`` (an unknown role allows nothing)."""
    return role in _RANK and _RANK[Role(role)] >= _RANK[Role(needed)]


class WebUser(BaseModel):
    """A user of the web page (``seobatch web adduser``): a name, a password hash, a role."""

    id = peewee.BigAutoField()
    name = StringField(unique=True)
    #: werkzeug's ``scrypt:…``/``pbkdf2:…`` string: method, salt and hash, never the password.
    password_hash = StringField()
    role = StringField()

    class Meta:
        table_name = "seo_web_users"

    def validate(self) -> None:
        if not USER_NAME_RE.match(self.name or ""):
            raise ValidationError(
                f"user name {self.name!r} must be 1-64 letters, digits or . _ @ - "
                "(starting with a letter or digit)"
            )
        if self.role not in ROLES:
            raise ValidationError(f"role {self.role!r} is not one of {', '.join(ROLES)}")


#: Apart from ``MODELS``: the web page's tables, a later schema version than the pipeline's.
WEB_MODELS: Final = (WebUser,)


__all__ = ["ROLES", "USER_NAME_RE", "WEB_MODELS", "Role", "WebUser", "role_allows"]

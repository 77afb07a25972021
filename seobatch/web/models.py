"""The web page's users: ``seo_web_users`` (a name, a password hash, a role).

Peewee only, no Flask: ``seobatch.schema`` creates this table with the others.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any, Final

import peewee

from ..db import StringField, database, utcnow
from ..errors import ValidationError


class Role(StrEnum):
    """What a user may do; each role can do everything the ones before it can."""

    VIEWER = "viewer"  #: reads runs, jobs, previews
    REVIEWER = "reviewer"  #: also approves and rejects revisions
    ADMIN = "admin"  #: also cancels jobs and rolls back


ROLES: Final = tuple(Role)
_RANK: Final = {role: rank for rank, role in enumerate(ROLES)}
NAME_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


def role_allows(role: str, needed: str) -> bool:
    """True when ``role`` includes ``needed`` (an unknown role allows nothing)."""
    return role in _RANK and _RANK[Role(role)] >= _RANK[Role(needed)]


class WebUser(peewee.Model):
    id = peewee.BigAutoField()
    name = StringField(unique=True)
    #: werkzeug's ``scrypt:…``/``pbkdf2:…`` string: method, salt and hash, never the password.
    password_hash = StringField()
    role = StringField()
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        database = database
        table_name = "seo_web_users"

    def validate(self) -> None:
        if not NAME_RE.match(self.name or ""):
            raise ValidationError(
                f"user name {self.name!r} must be 1-64 letters, digits or . _ @ - "
                "(starting with a letter or digit)"
            )
        if self.role not in ROLES:
            raise ValidationError(f"role {self.role!r} is not one of {', '.join(ROLES)}")

    def save(self, *args: Any, **kwargs: Any) -> int:
        self.validate()
        self.updated_at = utcnow()
        return super().save(*args, **kwargs)


WEB_MODELS: Final = (WebUser,)

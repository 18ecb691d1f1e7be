"""Flask extensions, created once and bound to each app in `create_app`."""

from __future__ import annotations

from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.orm import Session

from shared.models import Base

# Request-scoped sessions over the shared models (they live on `shared.models.Base`).
db = SQLAlchemy(metadata=Base.metadata, session_options={"expire_on_commit": False})
csrf = CSRFProtect()


def db_session() -> Session:
    """This request's database session (Flask-SQLAlchemy's scoped session, resolved)."""
    return db.session()

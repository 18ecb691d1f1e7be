"""System: store size and rows, disk, Redis and workers, rate limit, last errors."""

from __future__ import annotations

from flask import Blueprint, render_template

from .. import panels
from ..context import web_state
from ..extensions import db_session
from .common import current_account

bp = Blueprint("system", __name__, url_prefix="/system")


@bp.get("")
def index() -> str:
    return render_template("system.html", s=panels.system(web_state(), db_session(), current_account()))

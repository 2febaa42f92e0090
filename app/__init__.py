"""mpanel: the Flask application and the services around it."""
from __future__ import annotations

from flask import Flask, jsonify

from app.settings import Settings


def create_app(settings: Settings | None = None) -> Flask:
    app = Flask(__name__, template_folder="../templates")
    app.config["MPANEL"] = settings or Settings.from_env()

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok")

    return app

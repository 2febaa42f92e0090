"""mpanel: the Flask application and the services around it."""
from __future__ import annotations

from flask import Flask, jsonify

from app.settings import Settings


def create_app(settings: Settings | None = None, *, open_queue: bool = True) -> Flask:
    from app.web import account, errors, marketing, ops, ops_api, pages, panel, security, two_factor, webhooks
    from app.web import dropped_connections, metrics, proxy

    app = Flask(__name__, template_folder="../templates")
    settings = settings or Settings.from_env()
    app.config["MPANEL"] = settings
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    proxy.init_app(app)
    errors.init_app(app)
    dropped_connections.init_app(app)
    security.init_app(app)
    app.register_blueprint(marketing.bp)
    app.register_blueprint(webhooks.bp)
    app.register_blueprint(pages.bp)
    panel.init_app(app)
    app.register_blueprint(panel.bp)
    app.register_blueprint(account.bp)
    app.register_blueprint(two_factor.bp)
    app.register_blueprint(ops.bp)
    app.register_blueprint(ops_api.bp)
    metrics.init_app(app)

    if open_queue:
        # The queue runs in the database these settings name (not whatever the environment
        # said when it was first imported); its sync connector keeps its own small pool,
        # shared by the server's threads.
        from app.jobs.queue import queue

        queue.configure(settings).open()

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok")

    return app

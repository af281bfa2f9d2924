"""The web UI on a Flask app: ``HarnessWebUi`` puts the tabs, the ``/harness/...`` routes and the
report of one session on an app (Locust's, or any); ``attach_web_ui`` on Locust's.

The page's JavaScript (``static/webui.js``) and the report's waiting page
(``templates/waiting.html``) are package data files, read once with ``importlib.resources``.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from functools import cache
from importlib.resources import files
from typing import Any

from harness.load.webui.harness_tab import HARNESS_COLUMNS, HarnessView
from harness.load.webui.report import ReportWriter
from harness.load.webui.server import SERVER_COLUMNS, ServerView

__all__ = ["HarnessWebUi", "attach_web_ui"]

CONFIG = "__CONFIG__"
"""Stands in ``webui.js`` for its configuration (``{"base": ..., "note": ...}``, JSON)."""


@cache
def asset(name: str) -> str:
    """A package data file's text: ``asset("static/webui.js")``."""
    return files(__package__).joinpath(name).read_text(encoding="utf-8")


def waiting_page(*, refresh: int, state: str, message: str, base: str) -> str:
    """The page ``/harness/report.html`` answers until the report is there; it reloads itself."""
    return asset("templates/waiting.html").format(refresh=refresh, state=state, message=html.escape(message), base=base)


class HarnessWebUi:
    """The tabs, routes and report of one session, ready to go on a Flask app (Locust's, or any).

    ``base``: Locust's ``--web-base-path``; ``cloudwatch``: passed to ``ServerView``::

        ui = HarnessWebUi(session)
        web_ui.template_args.update(ui.template_args())
        ui.register(web_ui.app, guard=web_ui.auth_required_if_enabled)
        ...
        ui.report.start()        # the run has stopped
    """

    def __init__(self, session: Any, *, base: str = "", scenario_path: str = "", cloudwatch: Any = None) -> None:
        self.session = session
        self.base = base.rstrip("/")
        self.server = ServerView(session, cloudwatch=cloudwatch)
        self.report = ReportWriter(session)
        self.harness = HarnessView(session, server=self.server, report=self.report, base=self.base, scenario_path=scenario_path)

    def template_args(self) -> dict[str, Any]:
        """Locust's ``extended_tabs``, ``extended_tables`` and ``extended_csv_files``."""
        base = self.base
        return {
            "extended_tabs": [{"title": "Server", "key": "server"}, {"title": "harness", "key": "harness"}],
            "extended_tables": [{"key": "server", "structure": SERVER_COLUMNS}, {"key": "harness", "structure": HARNESS_COLUMNS}],
            "extended_csv_files": [
                {"href": f"{base}/harness/report.html", "title": "harness report (written when the run stops)"},
                {"href": f"{base}/harness/results.json", "title": "harness results.json (written when the run stops)"},
            ],
        }

    def extended_stats(self) -> list[dict[str, Any]]:
        """What ``/stats/requests`` carries for the two tabs: their rows."""
        return [{"key": "server", "data": self.server.latest()["rows"]}, {"key": "harness", "data": self.harness.latest()["rows"]}]

    def register(self, app: Any, *, guard: Callable[[Any], Any] | None = None) -> None:
        """Add the ``/harness/...`` routes to ``app``, ``extended_stats`` to its ``/stats/requests``
        answers and ``webui.js`` to its index page. ``guard`` wraps each data route (Locust's
        ``auth_required_if_enabled``)."""
        from flask import Blueprint, Response, jsonify, request, send_file

        base, server, harness, report = self.base, self.server, self.harness, self.report
        guard = guard or (lambda view: view)
        blueprint = Blueprint("harness", __name__, url_prefix=f"{base}/harness")

        @blueprint.route("/server")
        @guard
        def server_data() -> Any:
            return jsonify(server.latest())

        @blueprint.route("/state")
        @guard
        def harness_data() -> Any:
            return jsonify(harness.latest())

        @blueprint.route("/report.html")
        @guard
        def report_page() -> Any:
            path = report.file("report.html")
            if path is not None:
                return send_file(path, mimetype="text/html", max_age=0)
            if report.state == "failed":
                page = waiting_page(refresh=10, state="not written", message=report.message, base=base)
                return Response(page, status=500, mimetype="text/html")
            if report.state == "writing":
                state, message = "being written", report.message
            else:
                state, message = "written when the run stops", "The run is on, or has not started yet."
            page = waiting_page(refresh=2, state=state, message=message, base=base)
            return Response(page, status=503, mimetype="text/html", headers={"Retry-After": "2"})

        @blueprint.route("/results.json")
        @guard
        def results_file() -> Any:
            path = report.file("results.json")
            if path is None:
                return jsonify({"message": "results.json is written when the run stops"}), 404
            return send_file(path, mimetype="application/json", max_age=0)

        @blueprint.route("/webui.js")
        def script() -> Any:
            config = {"base": base, "note": harness.shape_note()}
            return Response(asset("static/webui.js").replace(CONFIG, json.dumps(config)), mimetype="application/javascript")

        app.register_blueprint(blueprint)
        stats_path, index_path = f"{base}/stats/requests", f"{base}/"
        tag = f'<script src="{base}/harness/webui.js"></script>'

        @app.after_request
        def extend(response: Any) -> Any:
            if response.status_code != 200:
                return response
            if request.path == stats_path:
                data = response.get_json(silent=True)
                if isinstance(data, dict):
                    data["extended_stats"] = self.extended_stats()
                    response.set_data(json.dumps(data))
            elif request.path == index_path and response.mimetype == "text/html":
                page = response.get_data(as_text=True)
                if "</body>" in page and tag not in page:
                    response.set_data(page.replace("</body>", tag + "</body>", 1))
            return response


def attach_web_ui(environment: Any, session: Any) -> HarnessWebUi:
    """Add the Server and harness tabs, the routes and the report to ``environment.web_ui``.

    Called while Locust initialises (the web UI starts right after); writes the report when
    the run stops (``test_stop``, after harness has saved ``results.json``)."""
    web_ui = environment.web_ui
    options = environment.parsed_options
    ui = HarnessWebUi(session, base=getattr(options, "web_base_path", "") or "", scenario_path=getattr(options, "scenario", "") or "")
    web_ui.template_args.update(ui.template_args())
    ui.register(web_ui.app, guard=web_ui.auth_required_if_enabled)
    environment.events.test_stop.add_listener(lambda **_: ui.report.start())
    return ui

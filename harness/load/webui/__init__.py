"""harness in Locust's web UI: what the server saw and what the open model did, live, beside
Locust's own client-side view; and the run's report once it stops.

    locust -f locustfiles/api.py --scenario scenarios/steady.toml [--local]

Built on Locust's own extension points (as Locust's ``examples/extend_web_ui.py``):

- a Flask blueprint on ``environment.web_ui.app`` with the routes below;
- ``template_args["extended_tabs"]`` and ``["extended_tables"]``: a **Server** tab and a
  **harness** tab, one table each;
- ``extended_stats`` added to ``/stats/requests``, which the UI polls every 2 s while a run
  is on: the tables' rows, the same rows the routes below answer;
- ``template_args["extended_csv_files"]``: the report and ``results.json`` under "Download Data".

=========================  =====================================================================
``/harness/server``        the Server tab: CloudWatch for the run so far (JSON)
``/harness/state``         the harness tab: profile, pacer, token pool, gates, report (JSON)
``/harness/report.html``   the run's report, written when the run stops (until then a page that
                           says what it waits for and reloads itself)
``/harness/results.json``  the run's results file, once written
``/harness/webui.js``      what the extension points cannot do (below)
=========================  =====================================================================

The Server tab asks CloudWatch for everything in ONE GetMetricData call per refresh
(``metrics.snapshot``), at most every ``REFRESH`` seconds: every browser polling in between
shares that answer. Whole-run values are CloudWatch's own over one period covering the run so
far (what the gates will see); a metric without a datapoint says "no data yet", never 0.

The harness tab evaluates the scenario's gates on the results so far (seconds not yet over
are left out of the planned count) and the Server tab's last CloudWatch answer.

Locust's table cells are plain text and its start form has no place for a note, so the index
page also loads ``webui.js``: it turns the harness tab's ``/harness/...`` cells into links, and
says beside the user count and spawn rate fields why the scenario's shape ignores them.

One module per concern:

=================  ====================================================================
``app``            ``HarnessWebUi`` (routes, Locust's extension points), ``attach_web_ui``
``server``         the Server tab (CloudWatch)
``harness_tab``    the harness tab (plan, pacer, token pool, live gates)
``report``         the report written when the run stops
``text``           times and numbers as the tables show them
``static/``        ``webui.js``; ``templates/``: the report's waiting page (package data)
=================  ====================================================================
"""

from harness.load.webui.app import HarnessWebUi, attach_web_ui
from harness.load.webui.harness_tab import HARNESS_COLUMNS, HarnessView
from harness.load.webui.report import ReportWriter
from harness.load.webui.server import NO_DATA, REFRESH, RETRY, SERVER_COLUMNS, ServerView

__all__ = [
    "HARNESS_COLUMNS",
    "NO_DATA",
    "REFRESH",
    "RETRY",
    "SERVER_COLUMNS",
    "HarnessView",
    "HarnessWebUi",
    "ReportWriter",
    "ServerView",
    "attach_web_ui",
]

"""HTTP services: the Anthropic-compatible proxy (gateway), the dashboard and their metrics.

* :mod:`gearshift.server.proxy` -- ``gearshift proxy``: meters, routes and caps Claude Code and
  any Anthropic client that sets ``ANTHROPIC_BASE_URL``;
* :mod:`gearshift.server.metrics` -- the Prometheus instruments the services expose;
* :mod:`gearshift.server.security` -- what every service checks before it serves: a safe bind,
  and the access token on every request.

Nothing here is imported by ``import gearshift``: the web server, the HTTP client and the
metrics library load only when a service starts.
"""

"""The agency service: REST API v1, the web portal, and the assessment worker.

- `app.create_app(settings)`: the FastAPI application (API under /api/v1, portal under /).
- `context.ServiceContext`: the one vault opened per process; each request authenticates as
  its principal (`Authorization: Bearer <token>` or a portal session) and everything goes
  through the vault's one resolve-and-authorize path (`guard.authorize`) and its audit trail.
- `jobs`: the persisted assessment queue; `worker`: the process that drains it.
"""

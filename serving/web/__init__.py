"""The web pages collectors work in: sign-in, worklist, customer page (Jinja2 + HTMX).

Served by the API's own app (`install_web`); no separate front-end build. The browser
holds only a random session id (`serving.web.sessions`); every form carries the
session's CSRF token (`serving.web.deps`).
"""

"""Serving: the FastAPI app, pure decisions (worklist, limits, orders, cash) and the web page."""

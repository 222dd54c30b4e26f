"""HTTP routes: thin functions that validate, call the scoring service, and shape replies."""

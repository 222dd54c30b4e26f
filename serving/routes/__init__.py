"""HTTP routes: thin functions that validate, call `serving.usecases`, and shape replies."""

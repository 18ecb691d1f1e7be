"""The Flask dashboard: `create_app()` in `app.py`, served by `serve.serve()`."""

"""What a person can do, written once for both faces: the CLI and the dashboard.

Each module is one family of actions (login, sync, downloads, verify,
schedule, runs). A use case takes the process's `Runtime`, the account and
where work goes (`delivery.Delivery`), and returns what happened as data; the
faces only parse their input, call one function and render the result. Plain
Python: no Celery, no Flask (the worker's queue and the dashboard's
background thread come in through `delivery`).
"""

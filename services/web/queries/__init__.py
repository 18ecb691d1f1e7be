"""Every read the dashboard makes: plain SQLAlchemy over a Session, one module per page family.

Pages and the JSON API read through these and nothing else, so a query is
tuned once. At 100,000 activities the lists stay fast because they filter on
the account first (the `(account_id, state)` and `(account_id, start_time)`
indexes) and page along the start-time index; the costly parts (the total
behind the pager, the monthly chart) are cached for a few seconds. The
dashboard's writes go through `shared` (use cases, `shared.runs`).
"""

"""Notifications: the tool runs unattended, so it tells its owner what happened.

An event (a run's digest, a failed run, a login needed, a long cool-down,
damage found by `verify`, tokens about to expire) is recorded as a row of
`notifications` where it happens, in the same transaction as what caused it
(`events`). Delivery is separate (`delivery`): a worker's dispatcher queues
the `garminsync.notify` task for each pending row, the embedded mode sends
them inline at the end of its work. Messages are composed in `messages`,
sent through Apprise in `sender`; URLs carry secrets and are only ever shown
through `urls.shown`. docs/DECISIONS.md has the reasoning.
"""

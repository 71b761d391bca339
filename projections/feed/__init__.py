"""The agency feed: a caller's page of changes read from the audience feed.

``reads`` filters an audience's feed rows for one caller against each client's
latest state; ``results`` holds the page, its items and what each page read of a
client. Referral items are the lists' own, so this package imports ``lists``.
"""

"""The trail of who looked at what, when and on what basis (issue 5).

read_record writes access events (one per look, hash-chained); django-auditlog records changes.
"""

"""The trail of who looked at what, when and on what basis (issue 5).

django-auditlog already records every change to the identity register; access events come next.
"""

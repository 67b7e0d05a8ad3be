"""Who may see what: teams, care relationships, break-glass and objections (issue 4).

The policy (policy.py) is the one place that answers; services.py alone grants and revokes.
"""

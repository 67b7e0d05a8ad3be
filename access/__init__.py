"""Who may see what: teams, care relationships, break-glass and objections (issue 4).

Empty until issue 4 lands: with no access rules yet, no page shows clinical data.
"""

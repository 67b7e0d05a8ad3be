"""Linked identities, source systems and fetching: who a person is and where their records are."""

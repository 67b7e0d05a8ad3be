"""Synthetic London population and simulated FHIR R4 source systems for demos and tests.

Plain Python: nothing here imports Django or the lcr/records/access/audit apps.
"""

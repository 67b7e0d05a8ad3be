"""What every partner API view shares, whatever app it belongs to: base views, errors as FHIR
OperationOutcome or problem JSON, JSON rendering, scopes, rates and the OpenAPI wiring.

It imports none of the apps: each app's API views build on it (records <- access <- audit <-
care_record), and lcr, on top, adds the answers to the apps' own domain exceptions.
"""

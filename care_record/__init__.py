"""The care record as a professional or partner system sees it: the one read path for patient
data (read_record) and every surface on top of it (record, search and emergency access pages,
administrators' patient pages, the FHIR API). The top floor: it imports records, access and
audit, and none of them imports it.
"""

"""Which FHIR R4 resource types carry each heading of a record (plain data, no Django).

records.categories gives the headings their names; this table is what adapters ask sources for.
"""

CATEGORY_RESOURCE_TYPES: dict[str, tuple[str, ...]] = {
    "allergies": ("AllergyIntolerance",),
    "medicines": ("MedicationStatement", "MedicationRequest"),
    "problems": ("Condition",),
    "immunisations": ("Immunization",),
    "test_results": ("Observation", "DiagnosticReport"),
    "encounters": ("Encounter",),
    "appointments": ("Appointment",),
    "referrals": ("ServiceRequest",),
    "care_plans": ("CarePlan",),
    "flags": ("Flag",),
    "documents": ("DocumentReference",),
}

"""The identifier systems of NHS England's FHIR profiles (UK Core), written once: an NHS number
and an organisation's ODS code, as every source, export and audit record names them."""

NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
ODS_SYSTEM = "https://fhir.nhs.uk/Id/ods-organization-code"

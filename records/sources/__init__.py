"""Source adapters: talking FHIR R4 to the systems that hold records, and reading what they say.

Pure I/O and parsing: nothing here touches the database or knows about views.
"""

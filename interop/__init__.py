"""The edges: HL7 v2 listeners and message store, the FHIR R4 read API, outbound delivery."""

"""HL7 v2 inbound: the ER7 reader, message mapping, acknowledgements (HL7 v2.5.1 chapter 2)."""

"""Lab orders (ServiceRequest), prescriptions (MedicationRequest), outbound order messages."""

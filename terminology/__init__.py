"""Code systems, concepts, versioned concept maps, translation as of a date."""

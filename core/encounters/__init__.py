"""Encounters: the visit record (patient, provider, location, time, type, status) that
charting and billing build on."""

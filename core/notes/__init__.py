"""Clinical notes: a note of a plugin's template, draft -> signed -> addenda, immutable
once signed (enforced by the database), and the billable services a signed note carries."""

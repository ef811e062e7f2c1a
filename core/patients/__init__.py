"""The patient record: demographics, emergency contacts, coverages, allergies, problems
(ICD-10-CM) and medications, with a per-tenant MRN, search, duplicate warning and merge.

* ``models``   tables (every one tenant-scoped, keyed ``(tenant_id, id)``)
* ``search``   name normalisation and the search query
* ``icd10``    the shipped ICD-10-CM code set: validation and code search
* ``schemas``  JSON shapes of the API (msgspec structs)
* ``services`` what the routes do, each PHI read and write audited in its transaction
* ``routes``   the JSON API under ``/api/patients`` and ``/api/icd10``
"""

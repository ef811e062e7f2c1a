"""Instruments (standardized questionnaires) and observations (measured values).

A plugin contributes an :class:`~core.instruments.types.Instrument` through the
installation hook ``tessera_instruments``; core checks the answers (422 naming each
missing or wrong item), scores them on the server, stores the response and its score as
an observation (code system + code, LOINC where one exists), and charts every measure on
the patient's chart with its minimal clinically important difference marked.

    POST /api/patients/{id}/instruments/{key}     {"answers": {...}, "effective_at"?}
    GET  /api/patients/{id}/observations?code=    time-ordered values
"""

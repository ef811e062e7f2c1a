"""Outgoing messages: e-mail and text, for core and every plugin.

* ``transports``: the ``Email`` / ``TextMessage`` types and their transports (SMTP, an HTTP
  SMS gateway, and recording for development), chosen by ``transports_for(settings,
  tenant_id)``.
* ``recorded``: the recorded-messages folder and its reader (``tessera messages list``).
* ``sending``: ``send_email_later`` / ``send_text_later``, the durable path through the
  outbox (``core_messages`` rows sent once by the ``core.send_message`` job), and
  ``deliver``, which reconciles an interrupted text by its idempotency key.

Plugins import these through ``core.plugin_api``.
"""

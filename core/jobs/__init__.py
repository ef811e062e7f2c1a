"""Background jobs: arq, the ``tenant_job`` wrapper and the transactional outbox.

Every job carries ``tenant_id``, runs in that tenant's scope, is idempotent and survives a
retry. See ``core.jobs.tenant_job`` (the job contract), ``core.jobs.outbox`` (enqueueing in
the caller's transaction, dispatcher, sweeper) and ``core.jobs.worker`` (``tessera worker``).
"""

from core.jobs.models import OutboxEntry
from core.jobs.outbox import enqueue_job
from core.jobs.tenant_job import JobError, JobFailedError, tenant_job

__all__ = ["JobError", "JobFailedError", "OutboxEntry", "enqueue_job", "tenant_job"]

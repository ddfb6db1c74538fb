"""Distributed execution: many worker processes, on many hosts, run one run's jobs from a job
queue in the PostgreSQL ledger (procrastinate), with budgets and rate limits shared.

* :mod:`~gearshift.distributed.queue` -- procrastinate apps, schema, deferring in a transaction;
* :mod:`~gearshift.distributed.graph` -- a run's DAG; finishing a job enqueues its children in
  the commit that records it;
* :mod:`~gearshift.distributed.runtime` -- a worker runs a job through the local engine's path;
* :mod:`~gearshift.distributed.build` -- a stored run built again on a worker (prices, pipeline,
  provider);
* :mod:`~gearshift.distributed.worker` -- the worker process: heartbeat, stalled-job sweep,
  shutdown;
* :mod:`~gearshift.distributed.holds` -- budget holds released when their worker dies;
* :mod:`~gearshift.distributed.ratelimit` -- token buckets every worker shares;
* :mod:`~gearshift.distributed.runs` -- status, list, cancel.

Nothing here is imported by ``import gearshift``: procrastinate and psycopg load only when used.
"""

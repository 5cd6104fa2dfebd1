"""What handlers log, per execution: captured in worker processes (``capture``),
written in batches (``sink``), read as CloudWatch Logs presents it (``reader``, with
filter patterns in ``filters``). The engine knows nothing of it."""

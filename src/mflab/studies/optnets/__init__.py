"""Study C5 (``optimizers-networks``), in parts: ``problems`` (the networks of A1–A4 as
landscapes), ``methods`` (B1–B10 in mean-field units, their grids), ``jobs`` (one run, for
any executor), ``protocol`` (budgets, tuning rounds, comparison jobs), ``tables`` and
``summary`` (from the files), ``config``. The study itself: ``mflab.studies.optimizers_networks``.
"""

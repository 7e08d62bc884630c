"""Study C6 (``mueller-brown``), in parts: ``methods`` (the optimisers of SPEC Part B as
rows of the comparison), ``config``, ``basins`` (a run's basin, by descent to a tabulated
stationary point), ``tuning`` (each method's tuned parameter, through the run's executor),
``paired`` (the seed-by-seed tests and the verdict on the report's claim) and ``summary``
(its Markdown sections). The study itself: ``mflab.studies.mueller_brown``.
"""

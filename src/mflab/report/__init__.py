"""What a person reads: ``report.html`` of a run (:func:`write_report`; a sweep's or
reproduction's is written by :func:`mflab.runs.batch.write_batch_report`), and two runs of
one study side by side (:func:`mflab.report.diff.compare_runs`)."""

from mflab.report.build import REPORT, write_report

__all__ = ["REPORT", "write_report"]

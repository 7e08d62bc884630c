"""What a person reads: ``report.html`` of a run, sweep or reproduction
(:func:`write_report`), and two runs side by side (:func:`compare_runs`)."""

from mflab.report.build import REPORT, write_report

__all__ = ["REPORT", "write_report"]

"""``data prepare --engine spark``: the prepared dataset computed by PySpark, on any master.

Spark executes the rules of the Polars engine, it does not restate them: every run of input lines
is parsed and checked by :class:`prismrec.data._events.EventFile` (the same code, on Arrow
batches, on the executors), and every row's time features and split come from
:func:`prismrec.data.preprocess.time_columns` and :class:`prismrec.data.splits.SplitPlan`.
Spark does the relational work between them: bad-row counts, dedup, k-core, vocabularies, the
one total order of each user's events, per-user counts, and the sort of the output. The output
files are written by the driver, one partition at a time, with the Polars engine's writers.

Importing this package does not import PySpark; :func:`prepare_spark` does.
"""

from __future__ import annotations

from prismrec.data.spark._prepare import prepare_spark

__all__ = ["prepare_spark"]

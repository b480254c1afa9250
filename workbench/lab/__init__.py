"""The lab: measuring. Eval sets, scorers, evaluation, sweeps and searches, tracking, comparisons, plots, replay, schedule."""

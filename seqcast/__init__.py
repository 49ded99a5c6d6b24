"""seqcast: batch forecasting of daily series, orchestration-free.

The library takes and returns pandas DataFrames, numpy arrays and small
dataclasses. It never imports prefect: ``tasks/`` and ``flows/`` wrap it.
Heavy dependencies (tensorflow, statsmodels, great_expectations) are imported
lazily inside the functions that need them.
"""

__version__ = "0.1.0"

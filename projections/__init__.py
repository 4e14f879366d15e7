"""Read models built from CIVIC_LEDGER: what dashboards and the API answer from."""

KPI_VERSION = 1
"""The version of docs/kpis.md these read models compute (stated in every dashboard answer)."""

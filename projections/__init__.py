"""Read models built from CIVIC_LEDGER: what dashboards and the API answer from."""

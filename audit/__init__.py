"""Audit: read the ledger back, verify its chain, and (later) replay and compare reports."""

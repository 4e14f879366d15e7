"""Kept for older imports: the publisher grew into the producer SDK (producers/sdk.py)."""

from producers.sdk import Producer as Publisher
from producers.sdk import PublishFailed, Result

__all__ = ["PublishFailed", "Publisher", "Result"]

"""What people read: the HTTP API (and, later, the pages)."""

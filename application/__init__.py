"""The ledger application service: batches of intake messages in, accepted events (with the
intake position) and refusals out. Wires the domain's aggregates to the event store and the key
store; it receives plain values, never a NATS message or subject."""

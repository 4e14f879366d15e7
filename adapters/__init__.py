"""The infrastructure every role shares: the bus, the event store, the key store, the embedded
nats-server. Built from config and schemas; nothing here knows a rule or a read model."""

"""The README written into every exported bundle (a module, so it ships with the package)."""

README = """# A slice of the civic-ledger

This folder holds the events of one organisational unit (and every unit under it) over a window,
exactly as the ledger stored them, with what is needed to check them without access to any server.

| file | what it is |
|---|---|
| `events.jsonl` | one event per line, in ledger order |
| `anchor.json` | the unit, the window, the time zone, the ledger's head (position and hash) when exported, the number of events and the SHA-256 of `events.jsonl` |
| `kpis.md` | the definitions of every dashboard figure (the version is in `anchor.json`) |

Each line of `events.jsonl` has `position` (n), `hash` (h(n)), `previous_hash` (h(n-1)), `subject`,
`type`, `event_id`, `occurred_at` and `stored`: the event's stored bytes, as UTF-8 text. The
`stored` text is itself JSON: the event with every field; residents' personal data in it is
encrypted (`sealed`), never in clear.

## The rule

The ledger is a hash chain. With h(0) = 32 zero bytes:

    h(n) = SHA-256( h(n-1) || n as 8 bytes big-endian || SHA-256(stored bytes of event n) )

Every line carries the h(n-1) its hash is computed from, so each event can be checked alone: if
a single byte of the event, its position or its hash was changed, the line no longer checks.

## Checking it

With civic-ledger installed (no server needed):

    civic audit verify --bundle THIS_FOLDER

With nothing but Python:

```python
import hashlib, json

for number, raw in enumerate(open("events.jsonl", "rb"), 1):
    line = json.loads(raw)
    stored = line["stored"].encode("utf-8")
    h = hashlib.sha256(bytes.fromhex(line["previous_hash"]) + line["position"].to_bytes(8, "big")
                       + hashlib.sha256(stored).digest()).hexdigest()
    print(number, line["position"], "ok" if h == line["hash"] else "ALTERED")
```

## What the bundle proves, and what it does not

* Each event is the one chained at its position, given h(n-1). Anyone holding the ledger (or a
  signed checkpoint of it) can confirm that h(n-1) and the head in `anchor.json` are the ledger's:
  `civic audit verify` walks the whole chain, `civic audit verify --checkpoints FILE` proves it
  still passes through every signed checkpoint.
* Completeness: that no event of the unit and window was left out is checked by exporting again
  from the ledger and comparing, since the events of other units between them are not in the slice.
"""

"""Signed checkpoints of the chain head: what makes a rewrite of the whole ledger detectable.

The hash chain alone proves the stream is internally consistent; someone able to rewrite both
the event store and the stream could edit an event and recompute every later hash. A checkpoint
is the chain head (position, hash) signed with an Ed25519 key that lives outside the data folder
(Settings.checkpoints_home: CIVIC_CHECKPOINT_DIR, by default the sibling folder DATA_DIR.checkpoints;
a path inside the data folder is refused), appended to a file there and, when configured, to a
witness stream on another NATS server (CIVIC_CHECKPOINT_WITNESS). `civic up` signs every
CIVIC_CHECKPOINT_MINUTES; `civic audit verify` checks against these checkpoints by default, and
`--checkpoints FILE` against any other copy.

A checkpoint is written only after checking that the chain from the previous checkpoint (or from
the start) to the new head verifies, so each one also vouches for what came before it.

Signed bytes: the JSON object {"hash", "ledger", "position", "at"} with sorted keys and no
spaces (see `signed_bytes`); the line adds `public_key` (32 bytes, hex) and `signature` (hex).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from collections.abc import Iterable
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from nats.js import JetStreamContext

from audit.reader import last_position, read_ledger
from audit.verify import Anchor, Fault, Report, verify
from config import Settings
from schemas.topology import LEDGER
from schemas import ledger as wire
from schemas import topology


class CheckpointsUnusable(ValueError):
    """A checkpoint file or public key that cannot be read as one."""


@dataclass(frozen=True)
class Checkpoint:
    position: int
    hash: str
    at: str
    public_key: str
    signature: str

    def signed_bytes(self) -> bytes:
        return signed_bytes(self.position, self.hash, self.at)

    def valid(self) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(bytes.fromhex(self.public_key)).verify(bytes.fromhex(self.signature), self.signed_bytes())
            return True
        except (InvalidSignature, ValueError):
            return False

    @property
    def label(self) -> str:
        return f"of {self.at} at position {self.position}"


def signed_bytes(position: int, hash_hex: str, at: str) -> bytes:
    return json.dumps({"at": at, "hash": hash_hex, "ledger": LEDGER, "position": position},
                      sort_keys=True, separators=(",", ":")).encode()


def outside_data(data_dir: Path, path: Path) -> Path:
    """`path`, refused (CheckpointsUnusable) when it lies inside the data folder: whoever can rewrite
    the data folder must not also hold the key and the copies that would expose the rewrite."""
    resolved, data = path.absolute().resolve(), data_dir.absolute().resolve()
    if resolved == data or data in resolved.parents:
        raise CheckpointsUnusable(f"{path} is inside the data folder {data_dir}: keep the checkpoint key and its "
                                  f"checkpoints elsewhere (CIVIC_CHECKPOINT_DIR)")
    return path


def default_paths(settings: Settings) -> tuple[Path, Path]:
    """(key file, checkpoints file) in the checkpoint folder, outside the data folder."""
    home = outside_data(settings.data_dir, settings.checkpoints_home)
    return home / "checkpoint.key", home / "checkpoints.jsonl"


def newest(path: Path, public_key: str | None) -> Checkpoint | None:
    """The file's last checkpoint whose signature holds (by `public_key` when given); None if none."""
    if not path.exists():
        return None
    for c in reversed(load_checkpoints(path)):
        if (not public_key or c.public_key.lower() == public_key) and c.valid():
            return c
    return None


def store_faults(states: Iterable[tuple[int, bytes]], anchors: list[Anchor]) -> list[Fault]:
    """Whether the event store's own chain passes through each anchor: catches a store edited at or
    before a checkpointed position even when the stream that would show which event is gone."""
    due = sorted(anchors, key=lambda a: a.position)
    faults: list[Fault] = []
    chain, position = wire.GENESIS, 0
    if not due:
        return faults
    for _, state in states:
        position += 1
        chain = wire.chain_hash(chain, position, state)
        while due and due[0].position == position:
            anchor = due.pop(0)
            if anchor.hash != chain.hex():
                faults.append(Fault(position, f"the event store does not extend the checkpoint {anchor.label}: its chain's "
                                              f"hash here is {chain.hex()[:16]}…, the signed one {anchor.hash[:16]}… "
                                              f"(a stored event at or before position {position} was edited)"))
        if not due:
            break
    for anchor in due:
        faults.append(Fault(anchor.position, f"the event store ends at {position}, before the checkpoint {anchor.label}"))
    return faults


def public_key_path(key_file: Path) -> Path:
    return key_file.with_suffix(".pub")


def load_or_create_key(key_file: Path) -> tuple[Ed25519PrivateKey, bool]:
    """The signing key (PEM, PKCS#8), created readable by its owner only on first use."""
    if key_file.exists():
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise SystemExit(f"{key_file} is not an Ed25519 private key")
        return key, False
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    public_key_path(key_file).write_text(public_hex(key) + "\n")
    return key, True


def public_hex(key: Ed25519PrivateKey) -> str:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def load_checkpoints(path: Path) -> list[Checkpoint]:
    """Every checkpoint of a file; a line that is not one raises CheckpointsUnusable naming it."""
    out = []
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise CheckpointsUnusable(f"cannot read {path}: {e.strerror}") from None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            fields = json.loads(line)
            out.append(Checkpoint(int(fields["position"]), str(fields["hash"]), str(fields["at"]),
                                  str(fields["public_key"]), str(fields["signature"])))
        except (ValueError, KeyError, TypeError) as e:
            raise CheckpointsUnusable(f"{path}:{number} is not a checkpoint ({e})") from None
    return out


def trusted_key(value: str | None, key_file: Path | None = None) -> str | None:
    """The public key to check signatures against: hex, a file holding it, or the one saved
    beside the default key; None when there is none (then each line's own key is used)."""
    if value:
        candidate = Path(value)
        text = candidate.read_text().strip() if candidate.exists() else value.strip()
        try:
            if len(bytes.fromhex(text)) == 32:
                return text.lower()
        except ValueError:
            pass
        raise CheckpointsUnusable(f"--public-key {value!r} is neither 64 hex digits nor a file holding them")
    if key_file and public_key_path(key_file).exists():
        return public_key_path(key_file).read_text().strip().lower()
    return None


def anchors(checkpoints: list[Checkpoint], public_key: str | None) -> tuple[list[Anchor], list[Fault]]:
    """The (position, hash) pairs the ledger must pass through, and what is wrong with the file."""
    problems, out = [], []
    for number, c in enumerate(checkpoints, 1):
        if public_key and c.public_key.lower() != public_key:
            problems.append(Fault(c.position, f"checkpoint {number} ({c.label}) is signed by another key ({c.public_key[:16]}…)"))
        elif not c.valid():
            problems.append(Fault(c.position, f"checkpoint {number} ({c.label}): the signature does not match its position and hash"))
        else:
            out.append(Anchor(c.position, c.hash, c.label))
    return out, problems


@dataclass
class Written:
    checkpoint: Checkpoint | None
    report: Report
    created_key: bool
    public_key: str


async def witness_checkpoints(url: str) -> list[Checkpoint]:
    """Every checkpoint the witness server holds, oldest first."""
    import nats

    from adapters.bus import ensure_witness

    nc = await nats.connect(url.split(","), connect_timeout=5, max_reconnect_attempts=2)
    try:
        js = nc.jetstream()
        await ensure_witness(js)
        info = await js.stream_info(topology.CHECKPOINTS)
        out = []
        for seq in range(info.state.first_seq or 1, info.state.last_seq + 1):
            fields = json.loads((await js.get_msg(topology.CHECKPOINTS, seq=seq)).data or b"")  # never empty

            out.append(Checkpoint(int(fields["position"]), str(fields["hash"]), str(fields["at"]),
                                  str(fields["public_key"]), str(fields["signature"])))
        return out
    finally:
        await nc.close()


async def send_to_witness(url: str, checkpoint: Checkpoint) -> None:
    import nats

    from adapters.bus import ensure_witness

    nc = await nats.connect(url.split(","), connect_timeout=5, max_reconnect_attempts=2)
    try:
        js = nc.jetstream()
        await ensure_witness(js)
        await js.publish(topology.CHECKPOINT_SUBJECT, json.dumps(asdict(checkpoint), separators=(",", ":")).encode(),
                         headers={"Nats-Msg-Id": f"{checkpoint.position}-{checkpoint.hash}"}, stream=topology.CHECKPOINTS)
    finally:
        await nc.close()


async def write_checkpoint(js: JetStreamContext, key_file: Path, out: Path, witness: str | None = None) -> Written:
    """Verify the chain from the last checkpoint in `out` to the head, then sign and append the head
    (and send it to the witness server, when there is one)."""
    key, created = load_or_create_key(key_file)
    previous = load_checkpoints(out)[-1] if out.exists() and out.stat().st_size else None
    head = await last_position(js)
    if previous and previous.position > head:
        report = Report(position=head)
        report.faults.append(Fault(previous.position, f"the ledger ends at {head}, before the last checkpoint"))
        return Written(None, report, created, public_hex(key))
    start, chain = (previous.position + 1, bytes.fromhex(previous.hash)) if previous else (1, wire.GENESIS)
    if previous:
        # The last checkpointed message must still carry the checkpointed hash before we extend it.
        msg = await js.get_msg(LEDGER, seq=previous.position)
        if (msg.headers or {}).get(topology.HASH_HEADER) != previous.hash:
            report = Report(position=previous.position)
            report.faults.append(Fault(previous.position, f"no longer carries the hash of the checkpoint {previous.label}"))
            return Written(None, report, created, public_hex(key))
    report = await verify(read_ledger(js, start, head), start=start, previous=chain)
    if not report.ok or head == 0 or (previous and previous.position == head):
        return Written(None, report, created, public_hex(key))  # nothing new to sign, or nothing that should be signed
    at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    hash_hex = report.head.hex()
    checkpoint = Checkpoint(head, hash_hex, at, public_hex(key), key.sign(signed_bytes(head, hash_hex, at)).hex())
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "a", encoding="utf-8") as f:
        f.write(json.dumps(asdict(checkpoint), separators=(",", ":")) + "\n")
        f.flush()
        os.fsync(f.fileno())
    if witness:
        await send_to_witness(witness, checkpoint)
    return Written(checkpoint, report, created, checkpoint.public_key)


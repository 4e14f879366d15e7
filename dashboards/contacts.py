"""A ticket's reporter contact, for the staff whose scope covers the ticket (grid workers call
residents back): GET /api/tickets/{id}/contact. The ledger holds it sealed with the resident's key;
it is unsealed for this one answer and never stored or cached, and every read is written to the
access log (who, when, which ticket) before the answer leaves.

The stored event comes from CIVIC_LEDGER by its position (the ticket's first trail entry, its
TicketRaised); the unsealing function comes from the composition root (domain/personal.py is
below the web in no layer the web may import).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec
import nats
from litestar import Request, get
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException, PermissionDeniedException
from litestar.params import FromPath

from adapters.http import problems
from adapters.keys import KeyStore
from dashboards.accounts import Accounts
from dashboards.auth import prefixes, reader_of
from projections.queries import NotFound
from projections.readside import ReadSide
from schemas.intake import decode
from schemas.topology import LEDGER


class Contact(msgspec.Struct):
    resident_id: str
    name: str | None = None
    phone: str | None = None
    address: str | None = None
    email: str | None = None
    erased: bool = False
    """The resident's key is destroyed: nothing can be read any more."""


class Contacts:
    def __init__(self, connection: Callable[[], Awaitable[nats.NATS]], keys_path: Path,
                 unseal: Callable[..., Any] | None, accounts: Accounts):
        self.connection, self.keys_path, self.unseal, self.accounts = connection, keys_path, unseal, accounts

    async def of_event(self, position: int) -> list[Contact]:
        if self.unseal is None:
            raise HTTPException(status_code=503, detail="contact details are not available in this web role")
        js = (await self.connection()).jetstream()
        event = decode((await js.get_msg(LEDGER, position)).data or b"", max_bytes=None)
        out = []
        # The key store opened for this answer only: a store kept open would cache keys, and a key
        # the ledger destroys (erasure) must be gone for the next read here too.
        keys = KeyStore(self.keys_path)
        try:
            for sealed in event.sealed:
                clear = self.unseal(event.event_id, sealed, keys)
                if clear is None:
                    out.append(Contact(sealed.resident_id, erased=True))
                    continue
                fields = msgspec.structs.asdict(clear)
                out.append(Contact(sealed.resident_id, name=fields.get("name"), phone=fields.get("phone"),
                                   address=fields.get("address"), email=fields.get("email")))
        finally:
            keys.close()
        return out


def contact_route(contacts: Contacts):
    @get("/api/tickets/{ticket_id:str}/contact", tags=["dashboards"],
         responses=problems(403, 404, 503, s403="Only staff whose unit covers the ticket read contact details",
                            s503="Contact details are not available in this web role"),
         summary="Staff of the ticket's unit or above: the reporter's contact details (each read is in the access log)")
    async def contact(request: Request, read: NamedDependency[ReadSide], ticket_id: FromPath[str]) -> list[Contact]:
        account = reader_of(request)
        assert account is not None  # the app's guard
        if not account.reads_contacts:
            raise PermissionDeniedException("only staff whose unit covers the ticket see contact details")
        try:
            read.tickets().timeline(ticket_id, int(time.time()), prefixes(read, account))
        except NotFound as e:
            raise HTTPException(status_code=404, detail=str(e)) from None
        positions = read.dashboards().trail_index("ticket", ticket_id).positions
        contacts.accounts.log(account.name, "contact_read", ticket_id, f"position {positions[0]}" if positions else "")
        return await contacts.of_event(positions[0]) if positions else []

    return contact

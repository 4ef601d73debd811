"""Which orgs to analyse, and which tokens read each: one org, a list, or an MSP's orgs.

Each token's `/api/v1/self` says what it may read (an MSP, or some orgs); an MSP-wide token lists
the MSP's orgs (`/api/v1/msps/{msp_id}/orgs`), so an org added at the MSP appears at the next
listing and a removed one disappears (its stored history stays). Each org gets a client over only
the tokens that read it, all sharing one ledger, so each token's hourly budget is one budget
however many orgs it serves.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .client import MistClient, MistPermissionError


@dataclass(frozen=True)
class OrgAccess:
    org_id: str
    name: str = ""
    tokens: tuple[str, ...] = field(default=(), repr=False)


ClientFor = Callable[[Sequence[str], str | None], MistClient]  # (tokens, org id) -> a client


def discover_orgs(
    tokens: Sequence[str],
    client_for: ClientFor,
    org_ids: Sequence[str] = (),
    msp_id: str | None = None,
) -> list[OrgAccess]:
    """The orgs to analyse with the tokens that read each, in a stable order.

    With one token and the orgs named, nothing is asked: the token is taken to read them (a 403
    on the first call says otherwise)."""
    if org_ids and not msp_id and len(tokens) == 1:
        return [OrgAccess(org, tokens=tuple(tokens)) for org in org_ids]
    reads: dict[str, set[str]] = {}  # org id -> tokens that read it
    names: dict[str, str] = {}
    msp_tokens: dict[str, list[str]] = {}  # msp id -> its MSP-wide tokens
    for token in tokens:
        client = client_for([token], None)
        for p in client.whoami().get("privileges") or []:
            if not isinstance(p, dict):
                continue
            if p.get("scope") == "msp" and isinstance(p.get("msp_id"), str):
                msp_tokens.setdefault(p["msp_id"], []).append(token)
            elif p.get("scope") == "org" and isinstance(p.get("org_id"), str):
                reads.setdefault(p["org_id"], set()).add(token)
                names.setdefault(p["org_id"], str(p.get("name") or ""))
    listed: dict[str, list[str]] = {}  # msp id -> its orgs, as it lists them now
    for msp, holders in msp_tokens.items():
        listing = client_for(holders[:1], None)
        listed[msp] = []
        for page in listing.iter_pages(f"/api/v1/msps/{msp}/orgs", limit=1000):
            for org in page:
                if isinstance(org, dict) and isinstance(org.get("id"), str):
                    listed[msp].append(org["id"])
                    names[org["id"]] = str(org.get("name") or names.get(org["id"], ""))
                    reads.setdefault(org["id"], set()).update(holders)
    if msp_id:
        if msp_id not in msp_tokens:
            raise MistPermissionError(
                f"no token reads MSP {msp_id} as a whole (its /api/v1/self has no msp privilege"
                " for it); give an MSP token, or name the orgs in MIST_ORG_ID"
            )
        wanted = listed[msp_id]
        if org_ids:  # the MSP's orgs, narrowed to those named
            wanted = [o for o in wanted if o in set(org_ids)]
    elif org_ids:
        unread = [o for o in org_ids if o not in reads]
        if unread:
            raise MistPermissionError(
                f"no token reads org {unread[0]} (MIST_ORG_ID)"
                + (f" and {len(unread) - 1} more" if len(unread) > 1 else "")
            )
        wanted = list(org_ids)
    else:
        wanted = sorted(reads)
        if len(wanted) != 1:
            raise MistPermissionError(
                f"the tokens read {len(wanted)} orgs; set MIST_ORG_ID to the ones to analyse"
                " (comma-separated) or MIST_MSP_ID to analyse an MSP's"
                + (f" (they read: {', '.join(wanted)})" if wanted else "")
            )
    seen: set[str] = set()
    return [
        OrgAccess(o, names.get(o, ""), tuple(t for t in tokens if t in reads.get(o, ())))
        for o in wanted
        if not (o in seen or seen.add(o))
    ]

"""A Mist MSP: several synthetic orgs behind one API, with tokens scoped as Mist scopes them.

Each org is the very org a single-org simulator with the same (seed, sites) serves, on one shared
clock, so an org's data read through the MSP equals that org read alone. The hourly budget is the
MSP's, per token across every org it reads, as Mist counts it. A token is either MSP-wide (it lists
the MSP's orgs and reads each) or scoped to some orgs: another org answers 403, as the API does.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace

from .server import ApiError, MistSimulator, SimulatorConfig

FORBIDDEN = {"detail": "You do not have permission to perform this action."}


class MspSimulator(MistSimulator):
    """`orgs`: (seed, sites) per org; `scopes`: token -> None (the whole MSP) or the indices of
    the orgs it reads. The first org is also `self.org`, what the admin endpoints default to."""

    def __init__(
        self,
        orgs: Sequence[tuple[int, int]],
        scopes: Mapping[str, Sequence[int] | None],
        config: SimulatorConfig | None = None,
        msp_seed: int = 1,
    ):
        if not orgs:
            raise ValueError("an MSP needs at least one org")
        base = replace(config or SimulatorConfig(), tokens=tuple(scopes))
        first_seed, first_sites = orgs[0]
        super().__init__(replace(base, seed=first_seed, sites=first_sites))
        self.msp_id = str(
            uuid.UUID(int=random.Random(f"wanperf-sim-msp:{msp_seed}").getrandbits(128), version=4)
        )
        self.msp_name = f"Simulated MSP {msp_seed}"
        self.orgs: list[MistSimulator] = [self]
        for seed, sites in orgs[1:]:
            self.add_org(seed, sites)
        ids = [sim.org.id for sim in self.orgs]
        self.scopes: dict[str, frozenset[str] | None] = {
            token: None if which is None else frozenset(ids[i] for i in which)
            for token, which in scopes.items()
        }
        self.listed: list[str] = list(ids)  # the orgs the MSP lists now (removal hides one)

    # the MSP's orgs --------------------------------------------------------------------------
    def add_org(self, seed: int, sites: int) -> MistSimulator:
        """Another org of the MSP, on the MSP's clock, faults and budget."""
        sim = MistSimulator(replace(self.config, seed=seed, sites=sites))
        sim.clock, sim.faults = self.clock, self.faults
        self.orgs.append(sim)
        if hasattr(self, "listed"):
            self.listed.append(sim.org.id)
        return sim

    def remove_org(self, org_id: str) -> None:
        """The org leaves the MSP: no longer listed, and no token reads it any more."""
        self.listed = [o for o in self.listed if o != org_id]

    def org_sim(self, org_id: str) -> MistSimulator:
        for sim in self.orgs:
            if sim.org.id == org_id:
                return sim
        raise KeyError(org_id)

    def _reads(self, token: str, org_id: str) -> bool:
        scope = self.scopes.get(token)
        return org_id in self.listed and (scope is None or org_id in scope)

    # the API -----------------------------------------------------------------------------------
    def _api(self, parts, q, path, query, token):
        match parts:
            case ["self"]:
                return 200, {}, self._self_of(token)
            case ["msps", msp_id, "orgs"]:
                if msp_id != self.msp_id or self.scopes.get(token) is not None:
                    raise ApiError(403, FORBIDDEN)
                return self._paged([self._org_json(o) for o in self.listed], q)
            case ["orgs", org_id, *_]:
                if not self._reads(token, org_id):
                    raise ApiError(403, FORBIDDEN)
                return self.org_sim(org_id)._org_api(parts, q, path, query, token)
            case ["sites", site_id, *_]:
                for sim in self.orgs:
                    if sim.org.has_site(site_id):
                        if not self._reads(token, sim.org.id):
                            raise ApiError(403, FORBIDDEN)
                        return sim._org_api(parts, q, path, query, token)
                raise ApiError(404, {"detail": "Not found."})
        return super()._api(parts, q, path, query, token)

    def _org_json(self, org_id: str) -> dict:
        org = self.org_sim(org_id).org
        return {
            "id": org.id,
            "name": org.name,
            "msp_id": self.msp_id,
            "created_time": org.created_time,
        }

    def _self_of(self, token: str) -> dict:
        body = self._self()
        scope = self.scopes.get(token)
        if scope is None:
            body["privileges"] = [
                {"scope": "msp", "msp_id": self.msp_id, "name": self.msp_name, "role": "read"}
            ]
        else:
            body["privileges"] = [
                {
                    "scope": "org",
                    "org_id": org_id,
                    "name": self.org_sim(org_id).org.name,
                    "msp_id": self.msp_id,
                    "role": "read",
                }
                for org_id in self.listed
                if org_id in scope
            ]
        return body

    def _admin(self, method, path, query):
        q = {k: v[-1] for k, v in query.items()}
        if path == "/admin/msp":
            if "add" in q:
                seed, _, sites = q["add"].partition(":")
                self.add_org(int(seed), int(sites or 10))
            if "remove" in q:
                self.remove_org(q["remove"])
            return (
                200,
                {},
                {
                    "msp_id": self.msp_id,
                    "orgs": [
                        {
                            "org_id": s.org.id,
                            "seed": s.org.seed,
                            "sites": len(s.org.sites),
                            "listed": s.org.id in self.listed,
                        }
                        for s in self.orgs
                    ],
                },
            )
        if "org_id" in q and path in ("/admin/truth", "/admin/inject", "/admin/org"):
            try:
                sim = self.org_sim(q["org_id"])
            except KeyError:
                raise ApiError(404, {"detail": f"no org {q['org_id']}"}) from None
            if sim is not self:
                return sim._admin(method, path, query)
        return super()._admin(method, path, query)

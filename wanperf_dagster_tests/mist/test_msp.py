"""An MSP of five orgs through the simulator over HTTP: which orgs each token reads, one sweep of
them all within each token's budget, small orgs first, and each org's data and KPIs equal to
that org analysed alone."""

import pandas as pd
import pytest

from wanperf_dagster.kpi import daily_circuit_kpis
from wanperf_dagster.mist import (
    MistClient,
    MistPermissionError,
    SweepConfig,
    discover_orgs,
    run_sweep,
    sweep_orgs,
)
from wanperf_dagster.mist.client import LocalCallLedger
from wanperf_dagster.simulator import MistSimulator, MspSimulator, SimulatorConfig, SimulatorServer
from wanperf_dagster.store import samples as sample_store

from .conftest import NOW

pytestmark = [pytest.mark.integration, pytest.mark.storage]

ORGS = [(21, 1000), (22, 6), (23, 9), (24, 4), (25, 12)]  # one large org, four small
MSP_TOKEN, SCOPED_TOKEN = "msp-Secret-77aa", "org-Secret-88bb"  # the second reads orgs 1 and 3
OTHER_TOKEN = "org-Secret-99cc"  # reads org 4
SWEEPS = 4


@pytest.fixture
def msp():
    sim = MspSimulator(
        ORGS,
        {MSP_TOKEN: None, SCOPED_TOKEN: [1, 3], OTHER_TOKEN: [4]},
        SimulatorConfig(now=NOW, admin=True),
    )
    with SimulatorServer(sim) as server:
        sim.url = server.url
        yield sim


def clients_for(sim, tokens, org_ids=(), msp_id=None, ledger=None, **kw):
    ledger = ledger or LocalCallLedger()

    def client_for(toks, org, name=""):
        return MistClient(
            list(toks), sim.url, org, org_name=name, clock=sim.clock.now, ledger=ledger,
            sleep=lambda s: None, backoff_factor=0.01, **kw,
        )  # fmt: skip

    return [
        client_for(a.tokens, a.org_id, a.name)
        for a in discover_orgs(tokens, client_for, org_ids, msp_id)
    ]


def org_samples(r, org, days):
    frame = sample_store.read_site_days(r, [(d, s.id) for d in days for s in org.sites])
    return frame.sort_values(["ts", "circuit_id"]).reset_index(drop=True)


def test_each_token_reads_what_it_may(msp):
    ids = [o.org.id for o in msp.orgs]
    clients = clients_for(msp, [MSP_TOKEN, SCOPED_TOKEN], msp_id=msp.msp_id)
    assert [c.org_id for c in clients] == ids
    by_org = {c.org_id: c for c in clients}
    # the scoped token adds its hour to the two orgs it reads, and only to them
    assert [len(by_org[o].budgets) for o in ids] == [1, 2, 1, 2, 1]
    assert by_org[ids[1]].org_name == "Synthetic WAN org (seed 22)"
    # named orgs: each gets the tokens that read it; one that no token reads is refused
    named = clients_for(msp, [SCOPED_TOKEN, OTHER_TOKEN, MSP_TOKEN], org_ids=[ids[4], ids[0]])
    assert [(c.org_id, len(c.budgets)) for c in named] == [(ids[4], 2), (ids[0], 1)]
    with pytest.raises(MistPermissionError, match=f"no token reads org {ids[0]}"):
        clients_for(msp, [SCOPED_TOKEN, OTHER_TOKEN], org_ids=[ids[0], ids[1]])
    # the scoped token cannot list the MSP, and its own calls on another org answer 403
    with pytest.raises(MistPermissionError, match="no token reads MSP"):
        clients_for(msp, [SCOPED_TOKEN], msp_id=msp.msp_id)
    stranger = MistClient([SCOPED_TOKEN], msp.url, ids[0], clock=msp.clock.now)
    with pytest.raises(MistPermissionError):
        stranger.get(f"/api/v1/orgs/{ids[0]}/sites")
    with pytest.raises(MistPermissionError):
        stranger.get(f"/api/v1/sites/{msp.orgs[0].org.sites[0].id}/stats/ports/search")
    # several orgs and no MSP or org named: which to analyse is the user's choice
    with pytest.raises(MistPermissionError, match="read 3 orgs; set MIST_ORG_ID"):
        clients_for(msp, [SCOPED_TOKEN, OTHER_TOKEN])


def test_an_org_added_or_removed_at_the_msp_follows_without_a_restart(msp):
    before = [c.org_id for c in clients_for(msp, [MSP_TOKEN], msp_id=msp.msp_id)]
    added = msp.add_org(26, 3).org.id
    msp.remove_org(before[2])
    after = [c.org_id for c in clients_for(msp, [MSP_TOKEN], msp_id=msp.msp_id)]
    assert after == [o for o in before if o != before[2]] + [added]
    # the removed org is no longer readable, by any token
    with pytest.raises(MistPermissionError):
        MistClient([MSP_TOKEN], msp.url, before[2], clock=msp.clock.now).get(
            f"/api/v1/orgs/{before[2]}/sites"
        )


def test_one_sweep_covers_every_org_and_each_equals_that_org_alone(msp, redis_client):
    """Each org's samples and daily KPIs through the MSP equal a single-org simulator of the same
    (seed, sites) swept alone; no call over any token's budget, no 429."""
    days = [sample_store.day_of(NOW)]
    alone = {}
    for seed, sites in ORGS:
        single = MistSimulator(SimulatorConfig(sites=sites, seed=seed, now=NOW, tokens=("t",)))
        with SimulatorServer(single) as server:
            for _ in range(SWEEPS):
                client = MistClient(["t"], server.url, single.org.id, clock=single.clock.now)
                run_sweep(client, redis_client, SweepConfig(page_limit=200))
                single.clock.advance(600)
        alone[single.org.id] = org_samples(redis_client, single.org, days)
    redis_client.flushdb()

    ledger = LocalCallLedger()
    for _ in range(SWEEPS):
        calls = msp.calls
        clients = clients_for(msp, [MSP_TOKEN, SCOPED_TOKEN], msp_id=msp.msp_id, ledger=ledger)
        swept = sweep_orgs(clients, redis_client, SweepConfig(page_limit=200))
        assert [o.error for o in swept] == [None] * len(ORGS)
        # a call a page and three to find the orgs (each token's /self, the MSP's list):
        # pausing after an org's first page wastes none
        assert msp.calls - calls == sum(o.session.pages for o in swept) + 3
        assert swept[0].session.pages > 1 and not swept[0].session.resumed
        msp.clock.advance(600)
    assert msp.over_budget == 0
    for sim in msp.orgs:
        mine = org_samples(redis_client, sim.org, days)
        assert len(mine) > 0 and mine["ts"].nunique() == SWEEPS
        pd.testing.assert_frame_equal(mine, alone[sim.org.id])
        pd.testing.assert_frame_equal(
            daily_circuit_kpis(mine, 10), daily_circuit_kpis(alone[sim.org.id], 10)
        )


def test_a_short_budget_is_spent_on_the_small_orgs_first(redis_client):
    """With too few calls for the large org, every small org is swept whole and the large one
    stops early (to resume from its cursor), with no call sent over the budget."""
    sim = MspSimulator(ORGS, {MSP_TOKEN: None}, SimulatorConfig(now=NOW, rate_limit=20))
    with SimulatorServer(sim) as server:
        sim.url = server.url
        # the client knows the hour as the server counts it; no retries: each call reserves one
        clients = clients_for(sim, [MSP_TOKEN], msp_id=sim.msp_id, rate_limit=20, retries=0)
        swept = sweep_orgs(clients, redis_client, SweepConfig(page_limit=100))
    large, *small = swept  # in the order given (the large org first)
    assert large.org_id == sim.orgs[0].org.id
    assert all(o.error is None and o.session.status == "finished" for o in small)
    assert "MistBudgetExhausted" in large.error and large.session.pages >= 1
    assert sim.over_budget == 0
    assert sim.usage(MSP_TOKEN)["requests"] <= 20

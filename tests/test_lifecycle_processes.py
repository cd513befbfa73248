"""The demo's lifecycle end to end through real processes and sockets, on SQLite and on
PostgreSQL + Redis: two workers race for every delivery and deployment, and in the middle of
PR #2's production canary both are killed with SIGKILL and a new one is started. Everything
still happens exactly once: one report per PR, one run of each handler per delivery, one GitHub
Deployment per environment and merge, and the canary completes on the endpoint.

The story is bot/app/demo.py's (`Story.play`): the same steps `make demo` shows, checked by the same
expectations (a step that sees something else raises DemoFailed).
"""

from __future__ import annotations

import time
from collections import Counter

import pytest
from sqlalchemy import select

from bot.app import demo
from bot.adapters.store import DeliveryRow, HandlerRunRow

pytestmark = pytest.mark.slow


@pytest.fixture
def world(backend, tmp_path):
    env = {k: v for k, v in backend.env.items() if k != "MODELBOT_DATA_DIR"}
    data = tmp_path / "lifecycle"
    demo.prepare_data_dir(data)
    # Two racing workers; the reaper re-enqueues what a killed worker held after 1 s of grace.
    w = demo.World(data, demo.ROOT / "config" / "modelbot.demo.yaml", backend_env=env, workers=2,
                   extra_env={"MODELBOT_REAP_GRACE_SECONDS": "1"})
    try:
        w.start()
        yield w
    finally:
        w.close()


def test_the_lifecycle_survives_sigkill_mid_rollout_with_racing_workers(world):
    kills: list[dict] = []

    def kill_mid_canary(story, number):
        if number != 2:
            return
        w = story.w
        # The production canary is under way: SageMaker is provisioning or baking the new fleet.
        demo.wait(lambda: w.phase(demo.ENDPOINTS["production"]) in ("provision-green", "canary-bake"), 150,
                  "PR #2's production canary to start", interval=0.05)
        phase = w.phase(demo.ENDPOINTS["production"])
        for proc in list(w.worker_procs):
            w.kill_worker(proc)
        assert w.worker_procs == []
        row = w.rows(2)["production"]
        kills.append({"phase": phase, "status": row.status})
        time.sleep(3)  # nobody works on it now
        assert w.rows(2)["production"].status == "running"
        w.start_worker("worker-restarted")

    story = demo.Story(world, out=lambda text: None, on_rollout=kill_mid_canary)
    try:
        steps = story.play()
    except demo.DemoFailed as exc:
        pytest.fail(f"{exc}\n{world.log_tails()}")
    assert len(steps) == demo.Story.TOTAL and all(s.ok for s in steps)
    assert kills and kills[0]["status"] == "running", kills

    facts = {s.number: s.facts for s in steps}
    assert facts[7]["deployments"] == {"staging": "succeeded", "production": "succeeded"}
    # The restarted worker took the canary over and finished it (SageMaker baked on meanwhile).
    production = world.rows(2)["production"]
    restarted = (world.data_dir / "worker-restarted.log").read_text()
    assert f'"deployment": {production.id}, "status": "succeeded"' in restarted
    assert facts[9]["deployments"] == {"staging": "succeeded", "production": "refused"}
    assert facts[11]["deployments"] == {"staging": "succeeded", "production": "rolled_back"}

    # Exactly once, whoever raced: every delivery done, each handler succeeded once for it.
    with world.store.session() as s:
        statuses = Counter(s.scalars(select(DeliveryRow.status)).all())
        runs = Counter((r.delivery_pk, r.handler) for r in s.scalars(
            select(HandlerRunRow).where(HandlerRunRow.ok.is_(True))).all())
    assert set(statuses) == {"done"}, statuses
    assert runs and max(runs.values()) == 1, [k for k, n in runs.items() if n > 1]
    gh = world.gh
    for number in (1, 2, 3, 4):
        reports = [c for c in gh.comments_on(demo.REPO, number) if "<!-- modelbot:report -->" in c.body]
        assert len(reports) == 1, (number, len(reports))
        envs = Counter(d.environment for d in world.deployments(number))
        assert envs == {"staging": 1, "production": 1}, (number, envs)
    assert len(world.store.deployments(repository=demo.REPO)) == 8
    assert gh.violations == []

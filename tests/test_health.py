"""A failing source: capped exponential backoff between attempts, exactly one alert, exactly one recovery."""

from __future__ import annotations

import io
from datetime import datetime, timezone

from bot.engine.config import config_from_dict
from bot.demo.replay import Reply, ReplayServer
from bot.engine.service import JOB_PREFIX, Service, backoff_delay
from bot.demo.world.ctgov import study


def test_backoff_doubles_from_the_interval_and_is_capped():
    assert [backoff_delay(600, k, 3 * 3600) for k in range(0, 7)] == [600, 600, 1200, 2400, 4800, 9600, 10800]
    assert backoff_delay(6 * 3600, 5, 3600) == 6 * 3600  # never sooner than the interval
    assert backoff_delay(60, 10_000, 86400) == 86400


async def test_a_failing_source_backs_off_alerts_once_and_recovers_once(tmp_path):
    with ReplayServer() as server:
        server.route("GET", "/ctgov/studies/NCT09990001", Reply(body=study("NCT09990001")))
        cfg = config_from_dict({
            "database": {"path": str(tmp_path / "tw.db")},
            "check": {"failure_alert_after": 3, "max_backoff": "8m"},
            "http": {"per_host_rps": 0, "max_retries": 0},
            "sources": {"ctgov": {"base_url": f"{server.url}/ctgov"}},
            "watch": [{"id": "resetme", "kind": "ctgov", "trial": "NCT09990001", "interval": "60s"}],
        })
        out = io.StringIO()
        service = Service(cfg, stdout=out, delivery_period_s=0.05)
        await service.open()
        service.start()
        try:
            job_id = JOB_PREFIX + "resetme"

            async def attempt() -> float:
                """Run the scheduled job once, as the scheduler would; seconds until its next run."""
                await service._scheduled_check("resetme")
                await service.deliver_now()
                job = service.scheduler.get_job(job_id)
                return (job.next_run_time - datetime.now(timezone.utc)).total_seconds()

            await attempt()  # baseline
            server.route("GET", "/ctgov/studies/NCT09990001", Reply(503, "down", content_type="text/plain"))
            gaps = [await attempt() for _ in range(6)]
            # 1st failure: the normal interval; then 2×, 4×, 8× (capped at 8 minutes).
            expected = [60, 120, 240, 480, 480, 480]
            assert all(abs(g - e) < 5 or (e == 60 and g <= 60) for g, e in zip(gaps, expected)), gaps
            assert out.getvalue().count("source error") == 1
            server.route("GET", "/ctgov/studies/NCT09990001", Reply(body=study("NCT09990001")))
            gap = await attempt()
            assert gap <= 60  # back on its interval
            await attempt()
            text = out.getvalue()
            assert text.count("source error") == 1 and text.count("source recovered") == 1
            rows = service.repo.events()
            assert [e["kind"] for e in rows] == ["source_error", "source_recovered"]
            assert rows[0]["detail"]["failures"] == 3
            assert service.repo.health("resetme").consecutive_failures == 0
            assert len([r for r in server.requests if r.path.endswith("NCT09990001")]) == 9
        finally:
            await service.close()

"""The reference system's schedule shape, in both field orders."""

from __future__ import annotations

import pytest
from celery import Celery

from luasched.celery import entries_from_app
from luasched.config import Settings
from luasched.errors import ScheduleError
from luasched.reference import beat_schedule, entries_from_queues
from luasched.schedules import Cron
from luasched.store import Store

QUEUES = {
    "celery_cron": [("alarm.tasks.refresh", "*/10 * * * *", "global"),
                    ("alarm.tasks.report", "0 2 1 * *", "cluster")],
    "celery_report_cron": [("alarm.tasks.mail", "30 7 * * 1-5", "global")],
}


def test_celery_field_order_reads_field_three_as_day_of_week() -> None:
    entries = {e.name: e for e in entries_from_queues(QUEUES, field_order="celery")}
    assert entries["alarm.tasks.report"].schedule == Cron("0 2 * * 1")
    unix = {e.name: e for e in entries_from_queues(QUEUES)}
    assert unix["alarm.tasks.report"].schedule == Cron("0 2 1 * *")
    assert {e.queue for e in entries.values()} == {"celery_cron", "celery_report_cron"}
    assert entries["alarm.tasks.refresh"].expires_seconds() == 600  # min(3600, max(600, 300))


def test_a_collapsing_step_is_refused_not_silently_collapsed() -> None:
    with pytest.raises(ScheduleError, match="step 260 is larger than the field's range 0-59"):
        entries_from_queues({"q": [("t.a", "*/260 * * * *", "global")]})


@pytest.mark.parametrize("items, field", [
    ([("t.a", "* * * * *", "everywhere")], "run_type of t.a"),
    ([("t.a", "* * * * *", "global"), ("t.a", "0 * * * *", "global")], "task_path"),
])
def test_bad_rows_name_the_field(items, field: str) -> None:
    with pytest.raises(ScheduleError) as info:
        entries_from_queues({"q": items})
    assert info.value.field == field


def test_global_rows_register_only_in_the_default_cluster(r, prefix: str) -> None:
    app = Celery("ref", set_as_current=False)
    app.conf.beat_schedule = beat_schedule(entries_from_queues(QUEUES, field_order="celery"))
    entries = entries_from_app(app, Settings())
    for cluster, expected in (("default", 3), ("c2", 1)):
        store = Store(r, prefix=prefix, cluster=cluster)
        store.sync_static(entries)
        assert len(store.names()) == expected
    app.close()

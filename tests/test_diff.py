"""The diff engine on its own: pure inputs, exact events."""

from __future__ import annotations

from scrapers.records import Item, ParseResult
from storage.diff import SPECS, diff_items, event_id

TRIAL = SPECS["trial"]


def trial(**over):
    fields = {"registry": "ctgov", "id": "NCT01234567", "title": "T", "acronym": None, "status": "RECRUITING",
              "enrollment": {"count": 66, "type": "ESTIMATED"}, "start_date": "2025-06",
              "start_date_type": "ACTUAL", "primary_completion_date": "2027-12", "completion_date": "2028-06",
              "last_update": "2026-10-01", "results_posted": False, "results_first_posted": None,
              "countries": ["Norway"], "aliases": [], "url": "https://clinicaltrials.gov/study/NCT01234567"}
    fields.update(over)
    return Item(fields["id"], fields)


def run(stored, *items, baseline=False, complete=True):
    return diff_items(TRIAL, stored, ParseResult(list(items), complete), watch="w", source="ctgov",
                      now="2026-11-21T10:00:00Z", baseline=baseline, trial_of=lambda i: i.fields["id"])


def test_baseline_is_silent_but_recorded():
    d = run({}, trial(), baseline=True)
    assert d.events == [] and [i.key for i in d.upserts] == ["NCT01234567"]
    assert {c.field for c in d.history} >= {"status", "enrollment", "start_date"}


def test_each_field_becomes_its_event():
    old = trial().fields
    d = run({"NCT01234567": old}, trial(status="COMPLETED", start_date="2025-07", results_posted=True,
                                        results_first_posted="2026-11-01", last_update="2026-11-02"))
    got = sorted((e["kind"], e["field"], e["old"], e["new"]) for e in d.events)
    assert got == [("dates_changed", "start_date", "2025-06", "2025-07"),
                   ("results_posted", "results", False, True),
                   ("status_changed", "status", "RECRUITING", "COMPLETED")]
    dates = next(e for e in d.events if e["kind"] == "dates_changed")
    assert dates["detail"] == {"date_type": "ACTUAL"}


def test_not_news():
    old = trial().fields
    # results withdrawn, countries changed, a field the stored copy never had: history only.
    stored = {"NCT01234567": {k: v for k, v in old.items() if k != "completion_date"} | {"results_posted": True}}
    d = run(stored, trial(results_posted=False, countries=["Norway", "Sweden"]))
    assert d.events == []
    assert {c.field for c in d.history} == {"results_posted", "countries", "completion_date"}
    # an identical item: nothing at all
    d = run({"NCT01234567": old}, trial())
    assert (d.events, d.upserts, d.history) == ([], [], [])


def test_gone_only_from_complete_results_and_never_news():
    stored = {"NCT01234567": trial().fields, "NCT07654321": trial(id="NCT07654321").fields}
    d = run(stored, trial())
    assert d.gone == ["NCT07654321"] and d.events == []
    d = run(stored, trial(), complete=False)
    assert d.gone == []


def test_event_ids_are_stable_and_tell_flip_flops_apart():
    old = trial().fields
    a = run({"NCT01234567": old}, trial(status="SUSPENDED", last_update="2026-11-02")).events[0]["id"]
    b = run({"NCT01234567": old}, trial(status="SUSPENDED", last_update="2026-11-02")).events[0]["id"]
    c = run({"NCT01234567": old}, trial(status="SUSPENDED", last_update="2027-01-05")).events[0]["id"]
    assert a == b != c
    assert a.startswith("status_changed:ctgov:NCT01234567:status:")
    assert event_id("new_trial", "ctgov:NCT01234567") == "new_trial:ctgov:NCT01234567"


def test_new_item_after_baseline_and_is_news_filter():
    d = run({}, trial())
    assert [e["kind"] for e in d.events] == ["new_trial"]
    d = diff_items(TRIAL, {}, ParseResult([trial()]), watch="w", source="ctgov", now="x", baseline=False,
                   is_news=lambda i: False)
    assert d.events == [] and len(d.upserts) == 1

"""``trialwatch parse ctgov FILE`` prints the contract's normalised record for every real sample."""

from __future__ import annotations

import json


from bot.cli import main

CONTRACT_FIELDS = {"registry", "id", "title", "acronym", "status", "enrollment", "start_date",
                   "primary_completion_date", "completion_date", "last_update", "results_posted",
                   "results_first_posted", "countries", "aliases", "url"}


def test_parse_every_ctgov_sample(samples_dir, capsys):
    files = sorted((samples_dir / "ctgov").glob("*.json"))
    assert len(files) >= 12
    for path in files:
        assert main(["parse", "ctgov", str(path)]) == 0, path.name
        record = json.loads(capsys.readouterr().out)
        assert record["items"], path.name
        raw = json.loads(path.read_text())
        expected_ids = ([s["protocolSection"]["identificationModule"]["nctId"] for s in raw["studies"]]
                        if "studies" in raw else [raw["protocolSection"]["identificationModule"]["nctId"]])
        assert [i["key"] for i in record["items"]] == expected_ids, path.name
        for item in record["items"]:
            fields = item["fields"]
            assert CONTRACT_FIELDS <= set(fields), (path.name, CONTRACT_FIELDS - set(fields))
            assert fields["registry"] == "ctgov" and fields["id"] == item["key"]
            assert fields["url"] == f"https://clinicaltrials.gov/study/{item['key']}"
            assert "versionHolder" not in json.dumps(fields)
            enrollment = fields["enrollment"]
            assert enrollment is None or set(enrollment) == {"count", "type"}


def test_parse_reports_bad_files_clearly(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"protocolSection": {"identificationModule": {"nctId": "NCT0')
    assert main(["parse", "ctgov", str(bad)]) == 3
    err = capsys.readouterr().err
    assert "bad.json" in err and "JSON" in err and "Traceback" not in err
    assert main(["parse", "nosuchkind", str(bad)]) == 2
    assert main(["parse", "ctgov", str(tmp_path / "missing.json")]) == 2

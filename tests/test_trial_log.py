"""trials.jsonl: appends survive crashes; partial lines are never read back as trials."""

from conftest import make_record

from bottleneck_search.rundir.trial_log import TrialLog


def record(trial_id, status="COMPLETED", score=0.5):
    return make_record(trial_id, status=status, score=score)


def test_append_and_read(tmp_path):
    log = TrialLog(tmp_path / "run" / "trials.jsonl")
    log.append(record("00"))
    log.append(record("01", status="INFEASIBLE", score=None))
    assert [(r.trial_id, r.status) for r in log.read()] == [
        ("00", "COMPLETED"),
        ("01", "INFEASIBLE"),
    ]
    assert log.read()[0] == record("00")


def test_a_line_cut_short_by_a_crash_is_skipped_and_then_terminated(tmp_path):
    path = tmp_path / "trials.jsonl"
    log = TrialLog(path)
    log.append(record("00"))
    full = record("01").to_json()
    with open(path, "a") as handle:
        handle.write(full[: len(full) // 2])  # the crash: half a line, no newline
    assert [r.trial_id for r in log.read()] == ["00"]
    log.append(record("02"))
    assert [r.trial_id for r in log.read()] == ["00", "02"]
    assert path.read_text().count("\n") == 3  # the partial line was closed before the new one


def test_a_rerun_trial_keeps_its_last_line(tmp_path):
    log = TrialLog(tmp_path / "trials.jsonl")
    log.append(record("00", score=0.1))
    log.append(record("01"))
    log.append(record("00", score=0.9))
    assert [(r.trial_id, r.score) for r in log.read()] == [("01", 0.5), ("00", 0.9)]


def test_garbage_and_unknown_statuses_are_ignored(tmp_path):
    path = tmp_path / "trials.jsonl"
    path.write_text(
        'not json\n{"trial_id": "9", "status": "RUNNING"}\n' + record("00").to_json() + "\n"
    )
    assert [r.trial_id for r in TrialLog(path).read()] == ["00"]

"""A served oracle on loopback, called as workers call it (Keras Tuner's `OracleClient`, connected
by `connect_worker`): only the run's token gets in, and only results it can check are accepted."""

import dataclasses
import json
import logging
import math
import os
import stat
from pathlib import Path

import grpc
import keras_tuner as kt
import pytest
from conftest import tls_files

from bottleneck_search import BottleneckHyperModel, SearchSpace, load_run
from bottleneck_search.errors import SearchConfigError
from bottleneck_search.search.jobs.distributed import connect_worker
from bottleneck_search.search.oracles.tuners import make_tuner
from bottleneck_search.search.served.auth import (
    ClientSecurity,
    chief_token,
    new_token,
    read_token_file,
    server_security,
)
from bottleneck_search.search.served.oracle_server import CheckedServicer, serve_oracle
from bottleneck_search.space.hyperparameters import architecture_from_hp

_ENVIRONMENT = ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")


class Served:
    """A chief's oracle (random search, 4 trials of the tiny space) served with a token."""

    def __init__(self, tmp_path, space, security):
        self.space = space
        self.tmp_path = tmp_path
        self.tuner = make_tuner(
            "random",
            BottleneckHyperModel(space),
            directory=tmp_path,
            project_name="chief",
            max_trials=4,
            seed=3,
            max_retries_per_trial=1,
        )
        self.oracle = self.tuner.oracle
        self.refusals = tmp_path / "refused.jsonl"
        self.servicer = CheckedServicer(
            self.oracle, self.tuner.hypermodel.architecture_from_hp, refusals=str(self.refusals)
        )
        self._serving = serve_oracle(self.servicer, security)
        self.address = self._serving.__enter__()

    def worker(self, tuner_id, token=None, ca=None, connect=True):
        """A worker's tuner whose oracle is Keras Tuner's client of this chief."""
        host, port = self.address.rsplit(":", 1)
        saved = {name: os.environ.get(name) for name in _ENVIRONMENT}
        os.environ.update(
            KERASTUNER_TUNER_ID=tuner_id, KERASTUNER_ORACLE_IP=host, KERASTUNER_ORACLE_PORT=port
        )
        try:
            tuner = make_tuner(
                "random",
                BottleneckHyperModel(self.space),
                directory=self.tmp_path,
                project_name=tuner_id,
                max_trials=4,
            )
        finally:
            for name, value in saved.items():
                os.environ.pop(name) if value is None else os.environ.__setitem__(name, value)
        if connect:
            security = ClientSecurity(token, tuner_id, ca=ca, timeout=5)
            connect_worker(tuner, self.address, security)
        return tuner.oracle

    def honest_metrics(self, trial):
        macs = architecture_from_hp(self.space, trial.hyperparameters.copy()).macs
        return {"val_accuracy": 0.5, "val_score": 0.45, "loss": 1.2, "macs": float(macs)}

    def close(self):
        self._serving.__exit__(None, None, None)


@pytest.fixture
def space(tiny_space_path):
    return SearchSpace.from_yaml(tiny_space_path)


@pytest.fixture
def served(tmp_path, space):
    token = new_token()
    chief = Served(tmp_path, space, server_security(token))
    chief.token = token
    yield chief
    chief.close()


def _finish(client, tuner_id, trial, metrics):
    client.update_trial(trial.trial_id, metrics)
    trial.status = "COMPLETED"
    client.end_trial(trial)


def test_without_the_runs_token_nothing_gets_in_and_nothing_changes(served, caplog):
    outsiders = [
        served.worker("plain", connect=False),  # Keras Tuner's own client: no token at all
        served.worker("wrong", token="not-the-token"),
        served.worker("other-run", token=new_token()),  # another run's token
    ]
    with caplog.at_level(logging.WARNING, logger="bottleneck_search.search.served.auth"):
        for client, tuner_id in zip(outsiders, ("plain", "wrong", "other-run"), strict=True):
            for method, args in (
                ("create_trial", (tuner_id,)),
                ("get_space", ()),
                ("update_trial", ("0", {"val_score": 1.0})),
            ):
                with pytest.raises(grpc.RpcError) as refused:
                    getattr(client, method)(*args)
                assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert served.oracle.trials == {} and served.oracle.ongoing_trials == {}
    assert not list(served.tmp_path.glob("chief/trial_*"))
    assert not served.refusals.exists()  # no call got as far as a report
    lines = [r.getMessage() for r in caplog.records if "without this run's token" in r.getMessage()]
    assert lines == [
        "refused a call from 127.0.0.1 without this run's token (later ones from it "
        "are refused silently)"
    ]  # once per peer, not once per call

    honest = served.worker("w1", token=served.token)
    trial = honest.create_trial("w1")
    _finish(honest, "w1", trial, served.honest_metrics(trial))
    ended = served.oracle.trials[trial.trial_id]
    assert ended.status == "COMPLETED" and ended.score == pytest.approx(0.45)


def _dishonest(served, trial, kind):
    """What a dishonest or broken worker sends for `trial` it was given; returns the call."""
    client = served.dishonest
    metrics = served.honest_metrics(trial)
    if kind == "nan":
        return lambda: client.update_trial(trial.trial_id, {**metrics, "val_score": math.nan})
    if kind == "accuracy_2":
        return lambda: client.update_trial(trial.trial_id, {**metrics, "val_accuracy": 2.0})
    if kind == "macs":
        return lambda: client.update_trial(trial.trial_id, {**metrics, "macs": metrics["macs"] / 2})
    if kind == "changed_hyperparameters":
        client.update_trial(trial.trial_id, metrics)
        site = next(s for s in served.space.sites)
        changed = trial.hyperparameters.copy()
        name = next(n for n in changed.values if n.startswith(site.name))
        changed.values[name] = next(v for v in (4, 8, "off") if v != changed.values[name])
        forged = kt.engine.trial.Trial(changed, trial_id=trial.trial_id, status="COMPLETED")
        # Keras Tuner's own client under `connect_worker`'s view (`RefusalTolerantClient`, which
        # hides a refused end from an honest worker): here the refusal itself is checked.
        return lambda: client.oracle.end_trial(forged)
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["nan", "accuracy_2", "macs", "changed_hyperparameters"])
def test_a_dishonest_report_is_refused_recorded_and_the_trial_rerun_by_an_honest_worker(
    served, kind, tmp_path
):
    served.dishonest = served.worker("liar", token=served.token)
    honest = served.worker("honest", token=served.token)
    trial = served.dishonest.create_trial("liar")
    with pytest.raises(grpc.RpcError) as refused:
        _dishonest(served, trial, kind)()
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    (record,) = [json.loads(line) for line in served.refusals.read_text().splitlines()]
    assert record["worker"] == "liar" and record["trial_id"] == trial.trial_id
    assert record["peer"] == "127.0.0.1" and record["requeued"] is True
    assert served.oracle.trials[trial.trial_id].status == "RUNNING"  # nothing of the lie kept
    assert "liar" not in served.oracle.ongoing_trials

    again = served.dishonest.create_trial("liar")  # the liar does not get its trial back
    assert again.trial_id != trial.trial_id
    rerun = honest.create_trial("honest")
    assert rerun.trial_id == trial.trial_id
    _finish(honest, "honest", rerun, served.honest_metrics(rerun))
    assert served.oracle.trials[trial.trial_id].status == "COMPLETED"
    assert served.oracle.trials[trial.trial_id].score == pytest.approx(0.45)


def test_ending_a_trial_given_to_another_worker_is_refused_and_leaves_it_with_its_worker(served):
    owner = served.worker("owner", token=served.token)
    thief = served.worker("thief", token=served.token)
    trial = owner.create_trial("owner")
    with pytest.raises(grpc.RpcError) as refused:
        thief.update_trial(trial.trial_id, served.honest_metrics(trial))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "issued to 'owner'" in refused.value.details()
    thief.end_trial(trial)  # refused as well; the worker's client logs it and carries on
    assert served.oracle.ongoing_trials["owner"].trial_id == trial.trial_id
    _finish(owner, "owner", trial, served.honest_metrics(trial))
    assert served.oracle.trials[trial.trial_id].status == "COMPLETED"
    reasons = [json.loads(line)["reason"] for line in served.refusals.read_text().splitlines()]
    assert len(reasons) == 2 and all("issued to 'owner'" in reason for reason in reasons)


def test_a_refused_workers_trial_line_is_not_the_trials_result(tiny_run, tmp_path):
    import shutil

    from conftest import make_record

    from bottleneck_search.rundir.trial_log import TrialLog

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    honest = load_run(run).records[0]
    lie = make_record(honest.trial_id, accuracy=0.99, architecture=honest.architecture)
    TrialLog(run / "trials.jsonl").append(dataclasses.replace(lie, worker="liar"))

    def result(trial_id):
        return {r.trial_id: r for r in load_run(run).records}[trial_id]

    assert result(honest.trial_id).val_accuracy == 0.99  # before the refusal
    refusal = {"worker": "liar", "trial_id": honest.trial_id, "reason": "reports 0 MACs"}
    (run / "refused.jsonl").write_text(json.dumps(refusal) + "\n")
    assert result(honest.trial_id) == honest


def test_the_chiefs_token_file_is_private_and_others_are_refused(tmp_path, monkeypatch):
    monkeypatch.delenv("BOTTLENECK_SEARCH_TOKEN", raising=False)
    token, created = chief_token(None, str(tmp_path))
    assert created == str(tmp_path / "auth-token") and len(token) >= 40
    assert stat.S_IMODE(os.stat(created).st_mode) == 0o600
    assert chief_token(None, str(tmp_path)) == (token, None)  # kept: a resumed chief reuses it
    monkeypatch.setenv("BOTTLENECK_SEARCH_TOKEN", "from-the-environment")
    assert chief_token(None, str(tmp_path / "elsewhere")) == ("from-the-environment", None)

    shared = tmp_path / "shared-token"
    shared.write_text(token + "\n")
    shared.chmod(0o644)
    with pytest.raises(
        SearchConfigError,
        match=r"can be read by other users \(mode 0644\); make "
        r"it private with `chmod 600",
    ):
        read_token_file(str(shared))
    shared.chmod(0o600)
    assert read_token_file(str(shared)) == token


@pytest.mark.slow  # over 10 s: CI runs it, the edit loop (make test-fast) does not
def test_tls_serves_workers_that_verify_the_chief_and_refuses_a_key_of_another_pair(
    tmp_path, space
):
    files = tls_files(tmp_path)
    token = new_token()
    chief = Served(tmp_path, space, server_security(token, files["cert"], files["key"]))
    try:
        ca = Path(files["ca"]).read_bytes()
        verified = chief.worker("w1", token=token, ca=ca)
        trial = verified.create_trial("w1")
        _finish(verified, "w1", trial, chief.honest_metrics(trial))
        assert chief.oracle.trials[trial.trial_id].status == "COMPLETED"
        plain = chief.worker("w2", token=token)  # no CA: a plain channel to a TLS port
        with pytest.raises(grpc.RpcError) as failed:
            plain.create_trial("w2")
        assert failed.value.code() in (
            grpc.StatusCode.UNAVAILABLE,
            grpc.StatusCode.DEADLINE_EXCEEDED,
        )
        (tmp_path / "other").mkdir()
        other_ca = Path(tls_files(tmp_path / "other")["ca"]).read_bytes()  # did not sign it
        untrusting = chief.worker("w3", token=token, ca=other_ca)
        with pytest.raises(grpc.RpcError):
            untrusting.create_trial("w3")
        assert set(chief.oracle.ongoing_trials) <= {"w1"}
    finally:
        chief.close()
    with pytest.raises(SearchConfigError, match="`tls_key` .* does not belong to `tls_cert`"):
        server_security(token, files["cert"], files["other_key"])

"""`python -m reference_service keys|tenants|usage`: the instructor's command line, on a real
Redis 8. Most tests call the command's `main` in process (a process costs seconds of
imports); one runs it as `python -m` to show the dispatch next to the server's own form."""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import subprocess
import sys

import pytest
import redis as sync_redis

from reference_service import cli
from reference_service.keys import digest


@pytest.fixture
def redis_env(redis_url, monkeypatch):
    sync_redis.Redis.from_url(redis_url).flushdb()
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.chdir(os.path.dirname(__file__))  # no .env of the developer's
    return redis_url


def run(capsys, *argv) -> tuple[int, str, str]:
    try:
        code = cli.main(list(argv))
    except SystemExit as exc:  # argparse's errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_create_prints_the_keys_once_and_stores_only_their_hashes(redis_env, capsys):
    code, out, err = run(
        capsys,
        "keys",
        "create",
        "--n",
        "3",
        "--prefix",
        "cs101",
        "--rpm",
        "20",
        "--tpm",
        "40000",
        "--budget-usd",
        "2",
        "--format",
        "csv",
    )
    assert code == 0 and "shown this once" in err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["id"] for r in rows] == ["cs101-001", "cs101-002", "cs101-003"]
    assert rows[0]["rpm"] == "20" and rows[0]["budget_usd"] == "2.0"
    assert rows[0]["period"] == "total"
    r = sync_redis.Redis.from_url(redis_env, decode_responses=True)
    stored = "\n".join(f"{k} {r.hgetall(k) if r.type(k) == 'hash' else ''}" for k in r.scan_iter())
    for row in rows:
        assert row["key"] not in stored and digest(row["key"]) in stored
    code, out, _ = run(capsys, "keys", "list")
    listed = json.loads(out)
    assert [k["id"] for k in listed] == ["cs101-001", "cs101-002", "cs101-003"]
    assert all(
        "key" not in k and k["status"] == "active" and k["created"].endswith("Z") for k in listed
    )
    assert not any(row["key"] in out for row in rows)


def test_out_file_is_private_and_never_overwritten(redis_env, capsys, tmp_path):
    path = tmp_path / "keys.json"
    code, out, err = run(
        capsys, "keys", "create", "--n", "2", "--prefix", "lab", "--out", str(path)
    )
    assert code == 0 and out == "" and "mode 0600" in err
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(json.loads(path.read_text())) == 2
    code, _, err = run(capsys, "keys", "create", "--n", "2", "--prefix", "lab", "--out", str(path))
    assert code == 2 and "exists" in err
    _, out, _ = run(capsys, "keys", "list")
    assert len(json.loads(out)) == 2  # refused before any key was made


def test_revoke_rotate_set_tenants_and_usage(redis_env, capsys):
    run(capsys, "keys", "create", "--n", "2", "--prefix", "cs101")
    code, out, err = run(capsys, "keys", "revoke", "cs101-001")
    assert code == 0 and json.loads(out)[0]["status"] == "revoked" and "revoked 1" in err
    code, out, _ = run(capsys, "keys", "rotate", "--tenant", "cs101", "--format", "csv")
    assert code == 0
    rotated = list(csv.DictReader(io.StringIO(out)))
    assert [r["id"] for r in rotated] == ["cs101-001", "cs101-002"]
    assert all(r["key"].startswith("sk-cs101-") for r in rotated)
    code, out, _ = run(capsys, "keys", "set", "cs101-002", "--budget-usd", "3", "--period", "week")
    assert code == 0 and json.loads(out)[0]["budget_usd"] == 3.0
    code, _, err = run(capsys, "tenants", "set", "cs101", "--budget-usd", "50", "--period", "week")
    assert code == 0 and "budget $50 (week)" in err
    _, out, _ = run(capsys, "tenants", "list")
    assert json.loads(out) == [{"tenant": "cs101", "budget_usd": 50.0, "period": "week"}]
    code, out, _ = run(capsys, "usage")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["id"], r["status"], r["requests"]) for r in rows] == [
        ("cs101-001", "active", "0"),
        ("cs101-002", "active", "0"),
    ]
    assert rows[1]["budget_usd"] == "3.0" and rows[1]["period"] == "week"
    code, out, _ = run(capsys, "usage", "--by", "tenant", "--format", "json")
    assert json.loads(out)[0]["budget"]["limit_usd"] == 50.0
    code, out, _ = run(capsys, "keys", "set", "--tenant", "cs101", "--no-budget")
    assert all(k["budget_usd"] is None for k in json.loads(out))


def test_tenant_per_key(redis_env, capsys):
    code, out, err = run(
        capsys, "keys", "create", "--n", "2", "--prefix", "solo", "--tenant-per-key"
    )
    assert code == 0 and "each its own tenant" in err
    assert [(k["id"], k["tenant"]) for k in json.loads(out)] == [
        ("solo-001", "solo-001"),
        ("solo-002", "solo-002"),
    ]
    _, out, _ = run(capsys, "tenants", "list")
    assert [t["tenant"] for t in json.loads(out)] == ["solo-001", "solo-002"]


@pytest.mark.parametrize(
    "argv,code,says",
    [
        (["keys", "create", "--n", "0", "--prefix", "x"], 2, "at least 1"),
        (["keys", "create", "--n", "1001", "--prefix", "x"], 2, "at most 1000"),
        (["keys", "create", "--n", "1", "--prefix", "x", "--budget-usd", "-1"], 2, "positive"),
        (["keys", "create", "--n", "1", "--prefix", "x", "--budget-usd", "nan"], 2, "positive"),
        (["keys", "create", "--n", "1", "--prefix", "x", "--period", "month"], 2, "invalid choice"),
        (["keys", "create", "--n", "1", "--prefix", "a b"], 1, "prefix"),
        (
            ["keys", "create", "--n", "1", "--prefix", "x", "--tenant", "t", "--tenant-per-key"],
            2,
            "contradict",
        ),
        (["keys", "revoke"], 2, "name key ids"),
        (["keys", "revoke", "nobody-001"], 1, "no key with id 'nobody-001'"),
        (["keys", "rotate", "--tenant", "nobody"], 1, "has no keys"),
        (["keys", "set", "x-001", "--budget-usd", "1", "--no-budget"], 2, "contradict"),
        (["tenants", "set", "cs101"], 2, "--budget-usd"),
        (["usage", "--format", "xml"], 2, "invalid choice"),
    ],
)
def test_bad_arguments_are_told_plainly(redis_env, capsys, argv, code, says):
    got, _, err = run(capsys, *argv)
    assert got == code and says in err


def test_without_redis_url_it_says_what_to_set(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "keys", "list")
    assert code == 2 and "REDIS_URL is not set" in err and "fakeredis" in err


def test_unreachable_redis_is_an_error_not_a_traceback(monkeypatch, capsys, tmp_path):
    from mock_llm import free_port

    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "keys", "list")
    assert code == 1 and "unreachable" in err and "Traceback" not in err


def test_python_dash_m_dispatches_the_commands(redis_env):
    env = {**os.environ, "REDIS_URL": redis_env}
    made = subprocess.run(
        [
            sys.executable,
            "-m",
            "reference_service",
            "keys",
            "create",
            "--n",
            "1",
            "--prefix",
            "proc",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)[0]["id"] == "proc-001"
    helped = subprocess.run(
        [sys.executable, "-m", "reference_service", "--help"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "--workers" in helped.stdout and "keys|tenants|usage" in helped.stdout

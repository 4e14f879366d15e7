"""Web accounts (dashboards/accounts.py) and `civic users`: hashing, tokens, sessions, the log."""

from __future__ import annotations

import stat
import time

import pytest
from typer.testing import CliRunner

from civic.cli import app
from dashboards.accounts import AccountError, Accounts, accounts_path
from dashboards.auth import LoginLimiter

PASSWORD = "a long enough password"


@pytest.fixture
def accounts(tmp_path):  # type: ignore[no-untyped-def]
    a = Accounts(accounts_path(tmp_path))
    yield a
    a.close()


def test_passwords_are_argon2_hashes_in_an_owner_only_file(accounts: Accounts) -> None:
    accounts.add("v1-sec", "staff", "v1", PASSWORD, "t")
    assert stat.S_IMODE(accounts.path.stat().st_mode) == 0o600
    stored = accounts._q("SELECT password FROM accounts")[0][0]
    assert stored.startswith("$argon2id$") and PASSWORD not in accounts.path.read_bytes().decode("latin-1")
    assert accounts.check_password("v1-sec", PASSWORD).org == "v1"  # type: ignore[union-attr]
    assert accounts.check_password("v1-sec", "wrong") is None and accounts.check_password("nobody", PASSWORD) is None


@pytest.mark.parametrize("name, role, org, password, why", [
    ("x", "staff", None, PASSWORD, "staff need --org"), ("x", "mayor", "v1", PASSWORD, "role must be"),
    ("x", "staff", "v1", "short", "at least 10"), ("a b", "staff", "v1", PASSWORD, "a name is"),
])
def test_refusals(accounts: Accounts, name: str, role: str, org: str | None, password: str, why: str) -> None:
    with pytest.raises(AccountError, match=why):
        accounts.add(name, role, org, password, "t")


def test_tokens_sessions_and_disabling(accounts: Accounts) -> None:
    accounts.add("aud", "auditor", None, PASSWORD, "t")
    token = accounts.issue_token("aud", "t")
    assert accounts.by_token(token).everything  # type: ignore[union-attr]
    assert token not in accounts.path.read_bytes().decode("latin-1"), "only the digest is stored"
    session = accounts.open_session("aud")
    assert accounts.by_session(session).name == "aud"  # type: ignore[union-attr]
    expired = accounts.open_session("aud", seconds=-1)
    assert accounts.by_session(expired) is None
    accounts.disable("aud", "t")
    assert accounts.by_token(token) is None and accounts.by_session(session) is None
    assert accounts.check_password("aud", PASSWORD) is None
    assert [e.action for e in accounts.entries()] == ["user_added", "token_issued", "user_disabled"]


def test_a_new_password_or_role_ends_the_sessions(accounts: Accounts) -> None:
    accounts.add("ta", "staff", "ta", PASSWORD, "t")
    session = accounts.open_session("ta")
    accounts.set_password("ta", "another long password", "t")
    assert accounts.by_session(session) is None
    session = accounts.open_session("ta")
    accounts.set_role("ta", "staff", "tb", "t")
    assert accounts.by_session(session) is None and accounts.get("ta").org == "tb"  # type: ignore[union-attr]
    assert accounts.entries()[-1].detail == "role=staff->staff org=ta->tb"


def test_login_limits_per_account_and_per_address() -> None:
    limiter = LoginLimiter(per_account=2, per_address=3, window=0.2)
    limiter.failed("a", "1.2.3.4")
    assert limiter.retry_after("a", "1.2.3.4") == 0
    limiter.failed("a", "1.2.3.4")
    assert limiter.retry_after("a", "5.6.7.8") > 0, "per account, from any address"
    limiter.failed("b", "1.2.3.4")
    assert limiter.retry_after("c", "1.2.3.4") > 0, "per address, for any account"
    time.sleep(0.25)
    assert limiter.retry_after("a", "1.2.3.4") == 0


def test_civic_users(tmp_path) -> None:  # type: ignore[no-untyped-def]
    run = CliRunner().invoke
    data = ["--data", str(tmp_path)]
    env = {"CIVIC_USER_PASSWORD": PASSWORD}
    assert run(app, ["users", "add", "zh-v10", "--role", "staff", "--org", "yn-zh-v10", *data], env=env).exit_code == 0
    refused = run(app, ["users", "add", "zh-v10", "--role", "staff", "--org", "yn-zh-v10", *data], env=env)
    assert refused.exit_code == 2 and "exists already" in refused.output
    assert run(app, ["users", "add", "grafana", "--role", "auditor", *data], env=env).exit_code == 0
    token = run(app, ["users", "token", "grafana", *data]).output.strip()
    assert token.startswith("civ_")
    assert run(app, ["users", "disable", "zh-v10", *data]).exit_code == 0
    listed = run(app, ["users", "list", *data]).output
    assert "zh-v10\tstaff\tyn-zh-v10\tdisabled" in listed and "grafana\tauditor\t*\tactive" in listed
    log = run(app, ["users", "log", *data]).output
    assert "user_added\tzh-v10" in log and "token_issued\tgrafana" in log and "user_disabled\tzh-v10" in log

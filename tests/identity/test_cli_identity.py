"""``radhub org|user|apikey|share`` on a data directory: what they create works; bad input exits 2."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from radhub.cli import cli


def _run(*args: str, input: str | None = None) -> tuple[int, str]:
    r = CliRunner().invoke(cli, list(args), input=input)
    return r.exit_code, r.output


def test_administration_from_the_cli(tmp_path: Path) -> None:
    d = ["--data-dir", str(tmp_path / "data")]
    assert _run("org", "create", "--kind", "platform", "--name", "Platform", *d)[0] == 0
    assert _run("org", "create", "--kind", "requesting", "--name", "County A", "--code", "county-a", *d)[0] == 0
    code, out = _run("org", "create", "--kind", "requesting", "--name", "Hospital 1", "--parent", "county-a",
                     "--ae", "CT_1", "--ae", "MR_1", "--json", *d)
    assert code == 0, out
    org = json.loads(out)
    orgs = {o["code"]: o for o in json.loads(_run("org", "list", "--json", *d)[1])}
    assert org["code"] == "hospital-1" and org["parent_id"] == orgs["county-a"]["id"]
    assert orgs["hospital-1"]["ae_titles"] == ["CT_1", "MR_1"]
    code, out = _run("user", "create", "--org", "hospital-1", "--username", "dr_chen", "--role", "reader",
                     "--title", "attending", "--licence", "CT,MR", "--keywords", "chest,neuro", *d, input="a long password\n")
    assert code == 0, out
    pw = tmp_path / "pw"
    pw.write_text("another long password\n")
    assert _run("user", "create", "--org", "hospital-1", "--username", "tech1", "--role", "technologist",
                "--password-file", str(pw), *d)[0] == 0
    code, out = _run("user", "list", "--org", "hospital-1", "--json", *d)
    users = {u["username"]: u for u in json.loads(out)}
    assert users["dr_chen"]["licences"] == ["CT", "MR"] and users["dr_chen"]["keywords"] == ["chest", "neuro"]
    assert users["dr_chen"]["title"] == "attending" and users["dr_chen"]["roles"] == ["reader"]
    assert _run("user", "disable", "dr_chen", *d)[0] == 0
    code, out = _run("apikey", "create", "--org", "hospital-1", "--name", "gateway", "--json", *d)
    assert code == 0 and json.loads(out)["key"].startswith("rh_"), out
    # the changes are audited as the CLI's
    code, out = _run("audit", "list", "--json", "--limit", "100", *d)
    actions = [json.loads(line)["action"] for line in out.splitlines()]
    assert {"org.create", "user.create", "user.disable", "apikey.create"} <= set(actions)
    assert all(json.loads(line)["user"].startswith("cli:") for line in out.splitlines())

    # bad input: exit 2 with a message, nothing changed
    bad = [
        (("org", "create", "--kind", "hospital", "--name", "X"), "kind"),
        (("org", "create", "--kind", "requesting", "--name", "Hospital 1"), "exists"),
        (("org", "create", "--kind", "requesting", "--name", "Y", "--parent", "nowhere"), "not found"),
        (("user", "create", "--org", "hospital-1", "--username", "u2", "--role", "wizard"), "role"),
        (("user", "create", "--org", "nowhere", "--username", "u3", "--role", "reader"), "not found"),
        (("user", "create", "--org", "hospital-1", "--username", "u4", "--role", "reader", "--keywords", "a,b,c,d"), "keyword"),
        (("user", "create", "--org", "hospital-1", "--username", "u5", "--role", "reader", "--title", "emperor"), "title"),
        (("user", "disable", "nobody"), "not found"),
        (("share", "1.2.3.4", "--with", "hospital-1"), "not found"),
    ]
    for args, message in bad:
        code, out = _run(*args, *d, input="a long password\n")
        assert code == 2 and message in out.lower(), (args, code, out)
    code, out = _run("user", "create", "--org", "hospital-1", "--username", "u6", "--role", "reader", *d, input="short\n")
    assert code == 2 and "password" in out.lower()
    code, out = _run("user", "list", "--json", *d)
    assert sorted(u["username"] for u in json.loads(out)) == ["dr_chen", "tech1"]

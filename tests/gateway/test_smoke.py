from tests.support.mail import make_message, write_messages


def test_ingest_files_a_message_into_a_case(cli, tmp_path):
    write_messages(tmp_path / "in", [make_message()])
    result = cli("ingest", str(tmp_path / "in"), "--json")
    assert result.code == 0, result.err
    assert result.json()["filed"] == 1
    cases = cli("cases", "list", "--json").json()
    assert [c["ref"] for c in cases] == ["NPC-000001"]

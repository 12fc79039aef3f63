from gateway.intake.aliases import alias_from_headers

ALIASES = ["sales@northpoint.example", "support@northpoint.example"]


def test_delivered_to_wins_over_to():
    raw = (b"To: Sales <sales@northpoint.example>\r\n"
           b"Delivered-To: support@northpoint.example\r\n\r\nbody")
    assert alias_from_headers(raw, ALIASES, "x") == "support@northpoint.example"


def test_folded_cc_header_is_read():
    raw = b"To: someone@else.example\r\nCc: a@b.example,\r\n  SUPPORT@northpoint.example\r\n\r\nx"
    assert alias_from_headers(raw, ALIASES, "x") == "support@northpoint.example"


def test_addresses_in_the_body_do_not_count():
    raw = b"To: someone@else.example\r\n\r\nTo: sales@northpoint.example\r\n"
    assert alias_from_headers(raw, ALIASES, "default@northpoint.example") == (
        "default@northpoint.example")


def test_garbage_gives_the_default():
    assert alias_from_headers(b"\x00\xff" * 100, ALIASES, "d") == "d"
    assert alias_from_headers(b"", [], "d") == "d"


def test_a_header_of_thousands_of_encoded_words_gives_the_default():
    words = " ".join("=?utf-8?q?a?=" for _ in range(3000))
    raw = f"To: {words} <x@y.example>\r\n\r\nbody".encode()
    assert alias_from_headers(raw, ALIASES, "d") in ("d", *ALIASES)

from pgserver import PgServer


def test_the_server_answers_on_the_loopback_port(pg_server: PgServer, pg_url: str) -> None:
    import psycopg

    with psycopg.connect(pg_url, connect_timeout=10) as conn:
        row = conn.execute("SELECT current_user, inet_server_addr()::text").fetchone()
    assert row == ("tracker", "127.0.0.1/32")

"""The team pool: facts pushed to a shared PostgreSQL server, reports read from it."""

"""``python -m luasched.demo``: several beat replicas and a worker on an embedded Redis."""

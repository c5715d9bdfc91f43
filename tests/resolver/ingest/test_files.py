import resolver.ingest
def test_x(): pass

"""The package's public surface is exactly its `__all__` (as httpx tests its exported members)."""

import resolver.normalize as normalize


def test_all_names_are_exported_and_public():
    exported = {name for name in dir(normalize) if not name.startswith("_")}
    modules = {"addresses", "autonames", "companies", "emails", "junk", "memo", "names", "phones", "region"}
    assert set(normalize.__all__) == exported - modules

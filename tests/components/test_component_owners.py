"""The store records the owner of a component on a shared endpoint under `<endpoint>/<component>`,
up to 63 + 1 + 63 characters, on both backends (migration 0008 widens the PostgreSQL column)."""

from __future__ import annotations


def test_a_component_key_of_127_characters_is_claimed_and_released(store):
    endpoint, component = "e" * 63, "c" * 63
    key = f"{endpoint}/{component}"
    ok, owner = store.claim_endpoint("production", key, repository="acme/models", manifest_path="models/a/modelbot.yaml",
                                     how="deployed", deployment_id=None)
    assert ok and owner.endpoint == key
    taken, owner = store.claim_endpoint("production", key, repository="acme/models",
                                        manifest_path="models/b/modelbot.yaml", how="deployed", deployment_id=None)
    assert not taken and owner.manifest_path == "models/a/modelbot.yaml"
    assert store.endpoint_owner("production", key).manifest_path == "models/a/modelbot.yaml"
    store.release_endpoint("production", key, repository="acme/models", manifest_path="models/a/modelbot.yaml")
    assert store.endpoint_owner("production", key) is None

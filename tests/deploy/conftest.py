"""Fixtures for the deploy tests: the moto server with the SageMaker emulator from
tests/aws/conftest.py (one server per module, reset per test)."""

from tests.aws.conftest import aws, moto_url, no_aws  # noqa: F401 - re-used fixtures

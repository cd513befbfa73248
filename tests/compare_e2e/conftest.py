"""Fixtures for the comparison tests: the moto server (with the SageMaker emulator) of tests/aws."""

from tests.aws.conftest import aws, moto_url, no_aws  # noqa: F401 - fixtures, re-exported for this package

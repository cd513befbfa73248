from tests.aws.conftest import aws, moto_url, no_aws  # noqa: F401 - the emulator fixtures

"""The one AWS adapter (boto3): sessions per environment and reading what is live.

Thin by design: it maps AWS responses to the pure core's values (`bot.plan.LiveState`) and AWS
failures to `AwsUnavailable`; every decision is made in the core.
"""

from .live import AwsLiveReader, read_live_state
from .session import AwsUnavailable, aws_session, clear_credential_cache, client, client_config

__all__ = ["AwsLiveReader", "AwsUnavailable", "aws_session", "clear_credential_cache", "client",
           "client_config", "read_live_state"]

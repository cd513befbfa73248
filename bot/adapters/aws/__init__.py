"""The one AWS adapter (boto3): sessions per environment, the live reader, the deploy
executor and teardown, batch-transform scoring, SageMaker's images.

Thin by design: it maps AWS responses to the pure core's values (`bot.core.plan.LiveState`) and AWS
failures to `AwsUnavailable`; every decision is made in the core.
"""

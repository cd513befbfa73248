"""Cross-field rules and AWS limits that span fields, each located at the field to change."""

from __future__ import annotations

import pytest

from bot.core.manifest import load_manifest

from .helpers import doc, locate


def env(body: str, mode: str = "realtime") -> dict[str, str]:
    """An `environments:` section with one `production` environment."""
    lines = "".join(f"    {line}\n" for line in body.strip("\n").split("\n"))
    return {"environments": f"environments:\n  production:\n    mode: {mode}\n" + lines}


REALTIME = "instance_type: ml.m5.large\ninstance_count: 4\n"
SLS = "serverless: {memory_mb: 2048, max_concurrency: 5}\n"
ACK = "strategy: {type: all_at_once, acknowledge_no_guardrails: true}\n"
MARKETPLACE = {"model": "model:\n  registry: {model_package_arn: 'arn:aws:sagemaker:us-east-1:123456789012:model-package/g/1', marketplace: true}\n"}
VALIDATION = """
validation:
  dataset: {uri: s3://acme-data/v.csv, format: csv, digest: "sha256:%s", label_column: y}
  task: binary
  metrics: [auc, recall]
  gates: [{metric: auc, min: 0.8}]
  predictions: {source: local}
""" % ("0" * 64)


def validation(old: str, new: str, *, mark_dataset: bool = False) -> dict[str, str]:
    assert old in VALIDATION
    text = VALIDATION.replace(old, new, 1)
    return {"validation": text.replace("  dataset:", "  «dataset:") if mark_dataset else text}


def env_at_key(body: str, mode: str = "realtime") -> dict[str, str]:
    """Like env(), with the marker on the environment's key (where missing fields point)."""
    section = env(body, mode)["environments"]
    return {"environments": section.replace("  production:", "  «production:", 1)}


CASES = [
    # id, sections, field, rule, message contains, severity
    # --- modes and their sections
    ("serverless needs its section", env_at_key("tags: {}", "serverless"),
     "environments.production.serverless", "manifest.mode-section", "needs a `serverless:` section", "error"),
    ("section of another mode", env(REALTIME + "«async: {output_path: s3://acme-out/x/}"),
     "environments.production.async", "manifest.mode-section", "only applies to mode async", "error"),
    ("serverless has no instances", env("serverless: {memory_mb: 2048, max_concurrency: 5}\n«instance_count: 2", "serverless"),
     "environments.production.instance_count", "manifest.serverless", "have no instances", "error"),
    ("instance type needed", env_at_key("instance_count: 2"),
     "environments.production.instance_type", "manifest.instances", "needs an instance type", "error"),
    ("batch has no endpoint", env(REALTIME + "batch: {input_uri: s3://acme-in/x/, output_uri: s3://acme-out/x/}\n«alarms: [a]", "batch"),
     "environments.production.alarms", "manifest.batch", "has no endpoint", "error"),
    ("batch join needs csv/json", env(REALTIME + "batch: {input_uri: s3://acme-in/x/, output_uri: s3://acme-out/x/, join_source: input, content_type: «application/x-recordio}", "batch"),
     "environments.production.batch.content_type", "aws.batch-join", "CSV or JSON", "error"),
    ("batch join needs csv/json output", env(REALTIME + "batch: {input_uri: s3://acme-in/x/, output_uri: s3://acme-out/x/, join_source: input, content_type: text/csv, accept: «application/x-recordio}", "batch"),
     "environments.production.batch.accept", "aws.batch-join", "Accept", "error"),
    ("batch join needs an accept", env(REALTIME + "«batch: {input_uri: s3://acme-in/x/, output_uri: s3://acme-out/x/, join_source: input, content_type: text/csv}", "batch"),
     "environments.production.batch.accept", "aws.batch-join", "Accept", "error"),
    ("csv join splits by line", env(REALTIME + "batch: {input_uri: s3://acme-in/x/, output_uri: s3://acme-out/x/, join_source: input, content_type: text/csv, accept: text/csv, split_type: «none}", "batch"),
     "environments.production.batch.split_type", "aws.batch-join", "SplitType and AssembleWith must be Line", "error"),
    ("csv join assembles by line", env(REALTIME + "batch: {input_uri: s3://acme-in/x/, output_uri: s3://acme-out/x/, join_source: input, content_type: text/csv, accept: text/csv, assemble_with: «none}", "batch"),
     "environments.production.batch.assemble_with", "aws.batch-join", "SplitType and AssembleWith must be Line", "error"),
    ("batch strategy needs a split", env(REALTIME + "batch: {input_uri: s3://acme-in/x/, output_uri: s3://acme-out/x/, split_type: none, «batch_strategy: multi_record}", "batch"),
     "environments.production.batch.batch_strategy", "aws.batch-strategy", "SplitType must be Line", "error"),
    ("batch concurrency times payload", env(REALTIME + "batch: {input_uri: s3://acme-in/x/, output_uri: s3://acme-out/x/, max_payload_mb: 20, max_concurrent_transforms: «6}", "batch"),
     "environments.production.batch.max_concurrent_transforms", "aws.batch-payload", "120 MB", "error"),
    ("batch concurrency times default payload", env(REALTIME + "batch: {input_uri: s3://acme-in/x/, output_uri: s3://acme-out/x/, max_concurrent_transforms: «17}", "batch"),
     "environments.production.batch.max_concurrent_transforms", "aws.batch-payload", "the default 6 MB", "error"),
    ("batch output over input", env(REALTIME + "batch: {input_uri: s3://acme-io/x/, output_uri: «s3://acme-io/x}", "batch"),
     "environments.production.batch.output_uri", "manifest.batch", "overwrite the input", "error"),
    ("default endpoint name too long", {"metadata": "metadata:\n  name: " + "m" * 55 + "\n  owners: [alice]\n",
                                        **env_at_key(REALTIME)},
     "environments.production.endpoint_name", "aws.endpoint-name", "is 66 characters long", "error"),
    # --- autoscaling
    ("autoscaling max below min", env(REALTIME + "autoscaling: {min_capacity: 4, max_capacity: «2, target_invocations_per_instance: 100}"),
     "environments.production.autoscaling.max_capacity", "manifest.autoscaling", "below min_capacity", "error"),
    ("only async scales to zero", env(REALTIME + "autoscaling: {min_capacity: «0, max_capacity: 4, target_invocations_per_instance: 100}"),
     "environments.production.autoscaling.min_capacity", "aws.autoscaling", "only async", "error"),
    ("scale to zero needs backlog target", env(REALTIME + "async: {output_path: s3://acme-out/x/}\n«autoscaling: {min_capacity: 0, max_capacity: 4, target_invocations_per_instance: 5}", "async"),
     "environments.production.autoscaling.target_backlog_per_instance", "aws.autoscaling", "backlog target", "error"),
    ("realtime autoscaling target", env(REALTIME + "«autoscaling: {min_capacity: 1, max_capacity: 4}"),
     "environments.production.autoscaling.target_invocations_per_instance", "manifest.autoscaling", "needs a target", "error"),
    ("count outside autoscaling range", env("instance_type: ml.m5.large\ninstance_count: «9\nautoscaling: {min_capacity: 1, max_capacity: 4, target_invocations_per_instance: 100}"),
     "environments.production.instance_count", "manifest.autoscaling", "outside the autoscaling range", "warning"),
    ("provisioned over max concurrency", env("serverless: {memory_mb: 2048, max_concurrency: 5, provisioned_concurrency: «6}", "serverless"),
     "environments.production.serverless.provisioned_concurrency", "aws.serverless", "exceeds max_concurrency", "error"),
    # --- strategies
    ("canary over half the fleet (percent)", env(REALTIME + "strategy: {type: canary, wait_interval_seconds: 60, canary_size: {type: capacity_percent, value: «60}}"),
     "environments.production.strategy.canary_size.value", "aws.canary-size", "at most 50%", "error"),
    ("canary over half the fleet (instances)", env(REALTIME + "strategy: {type: canary, wait_interval_seconds: 60, canary_size: {type: instance_count, value: «3}}"),
     "environments.production.strategy.canary_size.value", "aws.canary-size", "75% of a fleet of 4", "error"),
    ("canary larger than the fleet", env(REALTIME + "strategy: {type: canary, wait_interval_seconds: 60, canary_size: {type: instance_count, value: «5}}"),
     "environments.production.strategy.canary_size.value", "aws.guardrails", "the fleet has 4", "error"),
    ("canary needs a size", env(REALTIME + "«strategy: {type: canary, wait_interval_seconds: 60}"),
     "environments.production.strategy.canary_size", "manifest.strategy", "needs `canary_size`", "error"),
    ("canary needs a wait", env(REALTIME + "«strategy: {type: canary, canary_size: {type: capacity_percent, value: 10}}"),
     "environments.production.strategy.wait_interval_seconds", "manifest.strategy", "needs `wait_interval_seconds`", "error"),
    ("linear step too small", env(REALTIME + "strategy: {type: linear, wait_interval_seconds: 60, linear_step: {type: capacity_percent, value: «5}}"),
     "environments.production.strategy.linear_step.value", "aws.linear-step", "10-50%", "error"),
    ("linear step too large (instances)", env("instance_type: ml.m5.large\ninstance_count: 2\nstrategy: {type: linear, wait_interval_seconds: 60, linear_step: {type: instance_count, value: «2}}"),
     "environments.production.strategy.linear_step.value", "aws.linear-step", "100% of a fleet of 2", "error"),
    ("rolling batch too large", env(REALTIME + "strategy: {type: rolling, wait_interval_seconds: 60, max_batch_size: {type: instance_count, value: «3}}"),
     "environments.production.strategy.max_batch_size.value", "aws.rolling-batch", "75% of a fleet of 4", "error"),
    ("rolling batch too small", env("instance_type: ml.m5.large\ninstance_count: 40\nstrategy: {type: rolling, wait_interval_seconds: 60, max_batch_size: {type: capacity_percent, value: «4}}"),
     "environments.production.strategy.max_batch_size.value", "aws.rolling-batch", "5-50%", "error"),
    ("parameter of another strategy", env(REALTIME + "strategy: {type: blue_green, «canary_size: {type: capacity_percent, value: 10}}"),
     "environments.production.strategy.canary_size", "manifest.strategy", "not used by strategy blue_green", "error"),
    ("rolling not for serverless", env(SLS + "strategy: {type: «rolling, wait_interval_seconds: 60, max_batch_size: {type: capacity_percent, value: 25}}", "serverless"),
     "environments.production.strategy.type", "aws.guardrails-serverless", "only apply to Asynchronous inference and Real-time", "error"),
    ("serverless canary has no guardrails", env(SLS + "strategy: {type: «canary, wait_interval_seconds: 60, canary_size: {type: capacity_percent, value: 10}}", "serverless"),
     "environments.production.strategy.type", "aws.guardrails-serverless", "a canary update cannot happen", "error"),
    ("serverless default strategy must be explicit", env_at_key(SLS, "serverless"),
     "environments.production.strategy", "aws.guardrails-serverless", "do not apply to serverless endpoints", "error"),
    ("serverless all_at_once needs the acknowledgement", env(SLS + "«strategy: {type: all_at_once}", "serverless"),
     "environments.production.strategy.acknowledge_no_guardrails", "aws.guardrails-serverless", "acknowledge", "error"),
    ("serverless has no rollback alarms", env(SLS + ACK + "«alarms: [a]", "serverless"),
     "environments.production.alarms", "aws.guardrails-serverless", "AutoRollbackConfiguration", "error"),
    ("serverless has no data capture", env(SLS + ACK + "«data_capture: {destination: s3://acme-capture/x/}", "serverless"),
     "environments.production.data_capture", "aws.serverless-exclusions", "data capture", "error"),
    ("serverless has one variant", env(SLS + "strategy: {type: «ab, weights: {current: 9, candidate: 1}}", "serverless"),
     "environments.production.strategy.type", "aws.serverless-exclusions", "support only one", "error"),
    ("serverless cannot serve marketplace", {**MARKETPLACE, **env(SLS + ACK, "«serverless")},
     "environments.production.mode", "aws.serverless-exclusions", "Marketplace", "error"),
    ("all_at_once rolls back on no alarm", env(REALTIME + "strategy: {type: all_at_once}\n«alarms: [a]"),
     "environments.production.alarms", "manifest.strategy", "no alarm rolls the update back", "error"),
    ("shadow needs realtime", env("async: {output_path: s3://acme-out/x/}\ninstance_type: ml.m5.large\nstrategy: {type: «shadow, sampling_percentage: 10}", "async"),
     "environments.production.strategy.type", "manifest.strategy", "realtime endpoint", "error"),
    # --- the shadow judge (strategy.experiment)
    ("shadow judge needs data capture", env_at_key(REALTIME + "strategy: {type: shadow, sampling_percentage: 10, experiment: {task: classification, max_disagreement: 0.02}}"),
     "environments.production.data_capture", "manifest.experiment", "captures nothing", "error"),
    ("shadow judge needs outputs captured", env(REALTIME + "strategy: {type: shadow, sampling_percentage: 10, experiment: {task: classification, max_disagreement: 0.02}}\ndata_capture: {destination: s3://acme-cap/x/, capture: «[input]}"),
     "environments.production.data_capture.capture", "manifest.experiment", "input and the output", "error"),
    ("shadow judge warns on sampled capture", env(REALTIME + "strategy: {type: shadow, sampling_percentage: 10, experiment: {task: classification, max_disagreement: 0.02}}\ndata_capture: {destination: s3://acme-cap/x/, sampling_percentage: «20}"),
     "environments.production.data_capture.sampling_percentage", "manifest.experiment", "no production answer to pair", "warning"),
    ("classification judge needs max_disagreement", env(REALTIME + "strategy: {type: shadow, sampling_percentage: 10, «experiment: {task: classification}}\ndata_capture: {destination: s3://acme-cap/x/}"),
     "environments.production.strategy.experiment.max_disagreement", "manifest.experiment", "needs `max_disagreement`", "error"),
    ("regression judge with a classification gate", env(REALTIME + "strategy: {type: shadow, sampling_percentage: 10, experiment: {task: regression, max_abs_error_p99: 0.1, «max_disagreement: 0.02}}\ndata_capture: {destination: s3://acme-cap/x/}"),
     "environments.production.strategy.experiment.max_disagreement", "manifest.experiment", "judges classification answers", "error"),
    ("operational judge: marginal above pass", env(REALTIME + "strategy: {type: ab, weights: {current: 9, candidate: 1}, canary_judge: {pass_score: 80, marginal_score: «90}}"),
     "environments.production.strategy.canary_judge.marginal_score", "manifest.experiment", "not be above the pass score", "error"),
    ("operational judge: critical metric not judged", env(REALTIME + "strategy: {type: shadow, sampling_percentage: 5, canary_judge: {metrics: [model_latency], critical: «[error_rate]}}"),
     "environments.production.strategy.canary_judge.critical", "manifest.experiment", "not among the judged metrics", "error"),
    ("operational judge not for all at once", env(REALTIME + "strategy: {type: all_at_once, «canary_judge: {min_points: 10}}"),
     "environments.production.strategy.canary_judge", "manifest.strategy", "not used by strategy all_at_once", "error"),
    ("judge only for shadow", env(REALTIME + "strategy: {type: ab, weights: {current: 9, candidate: 1}, «experiment: {task: classification, max_disagreement: 0.02}}"),
     "environments.production.strategy.experiment", "manifest.strategy", "not used by strategy ab", "error"),
    ("ab candidate gets nothing", env(REALTIME + "strategy: {type: ab, weights: {current: 100, candidate: «0}}"),
     "environments.production.strategy.weights.candidate", "manifest.ab-weights", "no traffic", "error"),
    ("ab current gets nothing", env(REALTIME + "strategy: {type: ab, weights: {current: «0, candidate: 1}}"),
     "environments.production.strategy.weights.current", "manifest.ab-weights", "not an A/B test", "warning"),
    ("ab needs weights", env(REALTIME + "«strategy: {type: ab}"),
     "environments.production.strategy.weights", "manifest.strategy", "needs `weights`", "error"),
    ("candidate variant name clash", env(REALTIME + "variant_name: main\nstrategy: {type: ab, weights: {current: 9, candidate: 1}, candidate_variant_name: «main}"),
     "environments.production.strategy.candidate_variant_name", "manifest.variant-names", "different from variant_name", "error"),
    ("inf1 canary falls back", env("instance_type: ml.inf1.xlarge\ninstance_count: 4\nstrategy: {type: «canary, wait_interval_seconds: 60, canary_size: {type: capacity_percent, value: 25}}"),
     "environments.production.strategy.type", "aws.guardrails-exclusions", "Inf1", "error"),
    ("inf1 rolling falls back", env("instance_type: ml.inf1.xlarge\ninstance_count: 4\nstrategy: {type: «rolling, wait_interval_seconds: 60, max_batch_size: {type: instance_count, value: 1}}"),
     "environments.production.strategy.type", "aws.guardrails-exclusions", "no baking period", "error"),
    ("inf1 blue/green bake falls back", env("instance_type: ml.inf1.xlarge\ninstance_count: 4\nstrategy: {type: «blue_green, termination_wait_seconds: 600}"),
     "environments.production.strategy.type", "aws.guardrails-exclusions", "Inf1", "error"),
    ("inf1 default strategy must be explicit", env_at_key("instance_type: ml.inf1.xlarge\ninstance_count: 4"),
     "environments.production.strategy", "aws.guardrails-exclusions", "Inf1", "error"),
    ("inf1 all_at_once needs the acknowledgement", env("instance_type: ml.inf1.xlarge\ninstance_count: 4\nstrategy: {type: all_at_once, acknowledge_no_guardrails: «false}"),
     "environments.production.strategy.acknowledge_no_guardrails", "aws.guardrails-exclusions", "acknowledge", "error"),
    ("marketplace canary falls back", {**MARKETPLACE, **env(REALTIME + "strategy: {type: «canary, wait_interval_seconds: 60, canary_size: {type: capacity_percent, value: 25}}")},
     "environments.production.strategy.type", "aws.guardrails-exclusions", "Marketplace containers", "error"),
    ("marketplace blue/green with alarms falls back", {**MARKETPLACE, **env(REALTIME + "strategy: {type: «blue_green}\nalarms: [a]")},
     "environments.production.strategy.type", "aws.guardrails-exclusions", "Marketplace containers", "error"),
    # --- percentages of a fleet are whole instances
    ("percent canary of one instance", env("instance_type: ml.m5.large\ninstance_count: 1\nstrategy: {type: canary, wait_interval_seconds: 60, canary_size: {type: capacity_percent, value: «10}}"),
     "environments.production.strategy.canary_size.value", "aws.canary-size", "is 1 instance(s), 100% of the fleet", "error"),
    ("percent linear step rounds past half", env("instance_type: ml.m5.large\ninstance_count: 3\nstrategy: {type: linear, wait_interval_seconds: 60, linear_step: {type: capacity_percent, value: «50}}"),
     "environments.production.strategy.linear_step.value", "aws.linear-step", "is 2 instance(s), 66.6667% of the fleet", "error"),
    ("percent rolling batch rounds past half", env("instance_type: ml.m5.large\ninstance_count: 1\nstrategy: {type: rolling, wait_interval_seconds: 60, max_batch_size: {type: capacity_percent, value: «20}}"),
     "environments.production.strategy.max_batch_size.value", "aws.rolling-batch", "100% of the fleet", "error"),
    # --- execution timeout against the bakes
    ("timeout below canary bakes", env(REALTIME + "strategy: {type: canary, wait_interval_seconds: 600, termination_wait_seconds: 900, max_execution_timeout_seconds: «1200, canary_size: {type: capacity_percent, value: 25}}"),
     "environments.production.strategy.max_execution_timeout_seconds", "aws.max-execution-timeout", "add up to 1500s", "error"),
    ("timeout below linear bakes", env(REALTIME + "strategy: {type: linear, wait_interval_seconds: 300, termination_wait_seconds: 300, max_execution_timeout_seconds: «1200, linear_step: {type: instance_count, value: 1}}"),
     "environments.production.strategy.max_execution_timeout_seconds", "aws.max-execution-timeout", "3 x 300s between 4 steps", "error"),
    ("timeout below rolling bakes", env(REALTIME + "strategy: {type: rolling, wait_interval_seconds: 300, max_execution_timeout_seconds: «1200, max_batch_size: {type: instance_count, value: 1}}"),
     "environments.production.strategy.max_execution_timeout_seconds", "aws.max-execution-timeout", "4 batches x 300s", "error"),
    # --- instance types
    ("endpoint instance type unknown to botocore", env("instance_type: «ml.m5.huge\ninstance_count: 1"),
     "environments.production.instance_type", "aws.instance-type", "ProductionVariantInstanceType", "error"),
    ("batch on an endpoint-only type", env("instance_type: «ml.c5.large\nbatch: {input_uri: s3://acme-in/x/, output_uri: s3://acme-out/x/}", "batch"),
     "environments.production.instance_type", "aws.instance-type", "TransformInstanceType", "error"),
    ("batch_transform predictions on an endpoint-only type", validation("predictions: {source: local}", "predictions: {source: batch_transform, instance_type: «ml.t2.medium}"),
     "validation.predictions.instance_type", "aws.instance-type", "TransformInstanceType", "error"),
    ("multi-model on a multi-GPU type", env("instance_type: «ml.g5.12xlarge\ninstance_count: 1\nmulti_model: {prefix: s3://acme-models/}", "multi_model"),
     "environments.production.instance_type", "aws.multi-model-instance", "single-GPU", "error"),
    ("multi-model on inferentia", env("instance_type: «ml.inf1.xlarge\ninstance_count: 1\nmulti_model: {prefix: s3://acme-models/}\nstrategy: {type: all_at_once, acknowledge_no_guardrails: true}", "multi_model"),
     "environments.production.instance_type", "aws.multi-model-instance", "CPU instance types", "error"),
    ("alarm listed twice", env(REALTIME + "alarms: [a, «a]"),
     "environments.production.alarms[1]", "aws.alarms", "listed twice", "error"),
    ("too many tags in all", {**env(REALTIME + "«tags: {" + ", ".join(f"e{i}: v" for i in range(30)) + "}"),
                              "metadata": "metadata:\n  name: fraud\n  owners: [alice]\n  tags: {" + ", ".join(f"m{i}: v" for i in range(20)) + "}\n"},
     "environments.production.tags", "aws.tags", "61 tags", "error"),  # 20 + 30 + modelbot's 11
    # --- model source
    ("two sources", {"model": "model:\n  artifact: {uri: s3://acme-models/m.tar.gz, image: 1.dkr.ecr.us-east-1.amazonaws.com/m:1}\n  «framework: {name: xgboost, version: '1.7-1', uri: s3://acme-models/m.tar.gz}\n"},
     "model.framework", "manifest.model-source", "2 sources", "error"),
    ("no source", {"model": "«model:\n  environment: {A: b}\n"},
     "model", "manifest.model-source", "no source", "error"),
    ("registry in multi-model", {"model": "model:\n  registry: {model_package_arn: 'arn:aws:sagemaker:us-east-1:123456789012:model-package/g/1'}\n",
                                 **env(REALTIME + "multi_model: {prefix: s3://acme-models/}", "«multi_model")},
     "environments.production.mode", "manifest.multi-model", "cannot be served", "error"),
    ("provenance value is a tag", {"provenance": "provenance:\n  data_version: «v1 (final)\n  build_id: b1\n"},
     "provenance.data_version", "aws.tags", "'('", "error"),
    ("owner twice", {"metadata": "metadata:\n  name: fraud\n  «owners: [alice, '@alice']\n"},
     "metadata.owners", "manifest.owners", "listed 2 times", "warning"),
    # --- validation
    ("dataset without location", validation("uri: s3://acme-data/v.csv, ", "", mark_dataset=True),
     "validation.dataset.uri", "manifest.dataset-location", "exactly one location", "error"),
    ("dataset with two locations", validation("uri: s3://acme-data/v.csv, ", "uri: s3://acme-data/v.csv, «path: data/v.csv, "),
     "validation.dataset.path", "manifest.dataset-location", "both", "error"),
    ("dataset not pinned", validation('digest: "sha256:' + "0" * 64 + '", ', "", mark_dataset=True),
     "validation.dataset.digest", "manifest.dataset-pin", "pinned", "error"),
    ("id column is label", validation("label_column: y", "label_column: y, id_column: «y"),
     "validation.dataset.id_column", "manifest.dataset-columns", "is the label column", "error"),
    ("metric for another task", validation("metrics: [auc, recall]", "metrics: [auc, «rmse]"),
     "validation.metrics[1]", "manifest.metrics", "does not apply to task binary", "error"),
    ("unknown metric", validation("metrics: [auc, recall]", "metrics: [auc, «aucc]"),
     "validation.metrics[1]", "manifest.metrics", "unknown metric", "error"),
    ("gate on unlisted metric", validation("gates: [{metric: auc, min: 0.8}]", "gates: [{metric: «f1, min: 0.8}]"),
     "validation.gates[0].metric", "manifest.gates", "not in `metrics`", "error"),
    ("gate without bound", validation("gates: [{metric: auc, min: 0.8}]", "gates: [«{metric: auc}]"),
     "validation.gates[0]", "manifest.gates", "no bound", "error"),
    ("gate min above max", validation("gates: [{metric: auc, min: 0.8}]", "gates: [{metric: auc, min: 0.8, max: «0.7}]"),
     "validation.gates[0].max", "manifest.gates", "below min", "error"),
    ("regression needs one bound", validation("gates: [{metric: auc, min: 0.8}]", "gates: [{metric: auc, «max_regression: {absolute: 0.1, relative: 0.1}}]"),
     "validation.gates[0].max_regression", "manifest.gates", "exactly one", "error"),
    ("pipeline predictions need a path", validation("predictions: {source: local}", "«predictions: {source: pipeline}"),
     "validation.predictions.path", "manifest.predictions", "need the file's `path`", "error"),
    ("batch transform predictions need instances", validation("predictions: {source: local}", "«predictions: {source: batch_transform}"),
     "validation.predictions.instance_type", "manifest.predictions", "instance type", "error"),
    ("path with local predictions", validation("predictions: {source: local}", "predictions: {source: local, «path: p.csv}"),
     "validation.predictions.path", "manifest.predictions", "only used with source pipeline", "error"),
]


@pytest.mark.parametrize("sections, field, rule, message, severity",
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rule_is_located(sections, field, rule, message, severity):
    sections = {"validation": "", **sections}
    sections["validation"] = sections["validation"].strip("\n")
    text, line, column = locate(doc(**sections))
    result = load_manifest("models/fraud/modelbot.yaml", text)
    hits = [p for p in result.problems if p.field == field and p.rule == rule]
    assert hits, "\n".join(p.format() for p in result.problems)
    p = hits[0]
    assert (p.line, p.column) == (line, column), p.format()
    assert message in p.message, p.format()
    assert p.severity == severity
    assert p.expected
    assert result.ok == (severity == "warning" and all(not q.is_error for q in result.problems))


def test_warnings_alone_keep_the_manifest():
    text = doc(**env("instance_type: ml.m5.large\ninstance_count: 9\n"
                     "autoscaling: {min_capacity: 1, max_capacity: 4, target_invocations_per_instance: 100}"))
    result = load_manifest("m.yaml", text)
    assert result.ok and [p.severity for p in result.problems] == ["warning"]
    assert result.manifest.environments["production"].fleet == 9


def test_manifests_built_in_code_are_checked_by_the_same_rules():
    from bot.core.manifest import Manifest, check_manifest

    m = load_manifest("m.yaml", doc()).manifest
    data = m.model_dump(by_alias=True)
    data["environments"]["production"]["strategy"] = {"type": "canary", "wait_interval_seconds": 5}
    built = Manifest.model_validate(data)
    [p] = check_manifest(built)
    assert (p.field, p.rule, p.path, p.line) == (
        "environments.production.strategy.canary_size", "manifest.strategy", "", 1)


def test_a_model_without_source_in_a_multi_model_environment_is_reported_not_a_crash():
    text = doc(model="model:\n  environment: {A: b}\n",
               **env(REALTIME + "multi_model: {prefix: s3://acme-models/}", "multi_model"))
    assert [p.rule for p in load_manifest("m.yaml", text).problems] == ["manifest.model-source"]

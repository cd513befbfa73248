"""Field-level errors: each names the field, the line and column, the value and what fits."""

from __future__ import annotations

import pytest

from bot.core.manifest import load_manifest

from .helpers import doc, locate

ENV = ("environments:\n"
       "  production:\n"
       "    mode: realtime\n"
       "    instance_type: ml.m5.large\n"
       "    instance_count: 4\n")

CASES = [
    # id, sections, field, rule, expected contains, message contains
    ("missing section", dict(header="«apiVersion: modelbot/v1\nkind: ModelDeployment\n", provenance=""),
     "provenance", "schema.missing", "data_version", "is required"),
    ("missing nested field", dict(metadata="«metadata:\n  owners: [alice]\n"),
     "metadata.name", "schema.missing", "lowercase", "is required"),
    ("unknown field with suggestion", dict(environments=ENV + "    «instance_typ: ml.m5.large\n"),
     "environments.production.instance_typ", "schema.extra_forbidden", "instance_type", "did you mean `instance_type`"),
    ("unknown top-level field", dict(validation="«validaton: {}\n"),
     "validaton", "schema.extra_forbidden", "validation", "did you mean `validation`"),
    ("bad mode", dict(environments=ENV.replace("mode: realtime", "mode: «real-time")),
     "environments.production.mode", "schema.literal_error", "'realtime'", "not one of"),
    ("number where string", dict(metadata="metadata:\n  name: fraud\n  owners: [alice]\n  tags: {cost-center: «4711}\n"),
     "metadata.tags.cost-center", "schema.string_type", "a string", 'write it in quotes: "4711"'),
    ("float version keeps its text", dict(model="""
        model:
          framework: {name: xgboost, version: «1.10, uri: s3://acme-models/m.tar.gz}
        """), "model.framework.version", "schema.string_type", "quotes", 'write it in quotes: "1.10"'),
    ("quoted integer", dict(environments=ENV.replace("instance_count: 4", 'instance_count: «"4"')),
     "environments.production.instance_count", "schema.int_type", "an integer", "remove the quotes"),
    ("bool is not an int", dict(environments=ENV.replace("instance_count: 4", "instance_count: «true")),
     "environments.production.instance_count", "schema.int_type", "an integer", "got true/false"),
    ("empty value", dict(environments=ENV.replace("instance_type: ml.m5.large", "instance_type:« ")),
     "environments.production.instance_type", "manifest.instances", "instance type", "needs an instance type"),
    ("endpoint name too long", dict(environments=ENV + "    endpoint_name: «" + "e" * 64 + "\n"),
     "environments.production.endpoint_name", "aws.name", "1-63", "64 characters long"),
    ("endpoint name characters", dict(environments=ENV + "    endpoint_name: «fraud_v2\n"),
     "environments.production.endpoint_name", "aws.name", "letters, digits and hyphens", "letters, digits and hyphens"),
    ("endpoint name trailing hyphen", dict(environments=ENV + "    endpoint_name: «fraud-\n"),
     "environments.production.endpoint_name", "aws.name", "ending with a letter or digit", "start and end"),
    ("variant name", dict(environments=ENV + "    variant_name: «all traffic\n"),
     "environments.production.variant_name", "aws.name", "1-63", "letters, digits"),
    ("model name uppercase", dict(metadata="metadata:\n  name: «Fraud\n  owners: [alice]\n"),
     "metadata.name", "schema.model_name", "lowercase", "not in the expected form"),
    ("environment name", dict(environments="environments:\n  «Prod:\n    mode: realtime\n    instance_type: ml.m5.large\n"),
     "environments.Prod", "schema.environment_name", "lowercase", "the key 'Prod'"),
    ("s3 uri", dict(model="""
        model:
          artifact:
            uri: «https://example.com/model.tar.gz
            image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/fraud:1.0.0
        """), "model.artifact.uri", "schema.s3_uri", "s3://bucket/key", "not in the expected form"),
    ("image without tag", dict(model="""
        model:
          artifact:
            uri: s3://acme-models/m.tar.gz
            image: «fraud
        """), "model.artifact.image", "schema.image_uri", "registry/repository:tag", "not in the expected form"),
    ("model package arn", dict(model="model:\n  registry: {model_package_arn: «arn:aws:sagemaker:us-east-1:1:model-package/x}\n"),
     "model.registry.model_package_arn", "schema.model_package_arn", "model-package/<group>/<version>", ""),
    ("owner", dict(metadata="metadata:\n  name: fraud\n  owners: [«'@acme/']\n"),
     "metadata.owners[0]", "schema.owner", "@org/team", ""),
    ("no owners", dict(metadata="metadata:\n  name: fraud\n  owners: «[]\n"),
     "metadata.owners", "schema.too_short", "at least 1 entry", "is empty"),
    ("tag key aws:", dict(metadata="metadata:\n  name: fraud\n  owners: [alice]\n  tags: {«aws:team: x}\n"),
     "metadata.tags.aws:team", "aws.tags", "not starting with aws:", "reserves"),
    ("tag key modelbot:", dict(metadata="metadata:\n  name: fraud\n  owners: [alice]\n  tags: {«modelbot:commit: x}\n"),
     "metadata.tags.modelbot:commit", "aws.tags", "modelbot:", "sets itself"),
    ("tag value characters", dict(metadata="metadata:\n  name: fraud\n  owners: [alice]\n  tags: {team: «fraud!}\n"),
     "metadata.tags.team", "aws.tags", "letters, digits", "'!'"),
    ("tag value length", dict(metadata="metadata:\n  name: fraud\n  owners: [alice]\n  tags: {team: «" + "x" * 257 + "}\n"),
     "metadata.tags.team", "aws.tags", "0-256", "257 characters"),
    ("tag key length", dict(metadata="metadata:\n  name: fraud\n  owners: [alice]\n  tags: {«" + "k" * 129 + ": x}\n"),
     "metadata.tags." + "k" * 129, "aws.tags", "1-128", "129 characters"),
    ("too many tags", dict(metadata="metadata:\n  name: fraud\n  owners: [alice]\n  tags: «{" + ", ".join(f"t{i}: v" for i in range(45)) + "}\n"),
     "metadata.tags", "schema.too_long", "at most 39 entries", "has 45 entries"),  # 50 - modelbot's 11
    ("serverless memory step", dict(environments="""
        environments:
          production:
            mode: serverless
            serverless: {memory_mb: «1500, max_concurrency: 5}
        """), "environments.production.serverless.memory_mb", "schema.multiple_of", "1024-6144 in steps of 1024", "multiple of 1024"),
    ("serverless memory range", dict(environments="""
        environments:
          production:
            mode: serverless
            serverless: {memory_mb: «8192, max_concurrency: 5}
        """), "environments.production.serverless.memory_mb", "schema.less_than_equal", "1024-6144", "out of range"),
    ("serverless concurrency", dict(environments="""
        environments:
          production:
            mode: serverless
            serverless: {memory_mb: 1024, max_concurrency: «201}
        """), "environments.production.serverless.max_concurrency", "schema.less_than_equal", "1-200", "out of range"),
    ("wait interval", dict(environments=ENV + "    strategy: {type: canary, canary_size: {type: capacity_percent, value: 10}, wait_interval_seconds: «3601}\n"),
     "environments.production.strategy.wait_interval_seconds", "schema.less_than_equal", "0-3600", ""),
    ("termination wait", dict(environments=ENV + "    strategy: {type: blue_green, termination_wait_seconds: «-1}\n"),
     "environments.production.strategy.termination_wait_seconds", "schema.greater_than_equal", "0-3600", ""),
    ("max execution timeout", dict(environments=ENV + "    strategy: {type: blue_green, max_execution_timeout_seconds: «599}\n"),
     "environments.production.strategy.max_execution_timeout_seconds", "schema.greater_than_equal", "600-28800", ""),
    ("too many alarms", dict(environments=ENV + "    alarms: «[" + ", ".join(f"a{i}" for i in range(11)) + "]\n"),
     "environments.production.alarms", "schema.too_long", "at most 10", "11 entries"),
    ("no alarms", dict(environments=ENV + "    alarms: «[]\n"),
     "environments.production.alarms", "schema.too_short", "at least 1", "empty"),
    ("shadow sampling", dict(environments=ENV + "    strategy: {type: shadow, sampling_percentage: «0}\n"),
     "environments.production.strategy.sampling_percentage", "schema.greater_than_equal", "1-100", ""),
    ("strategy type", dict(environments=ENV + "    strategy: {type: «yolo}\n"),
     "environments.production.strategy.type", "schema.literal_error", "'canary'", ""),
    ("provenance neither string nor ref", dict(provenance="provenance:\n  data_version: «[1]\n  build_id: b\n"),
     "provenance.data_version", "schema.value_or_ref", "from_pipeline", "got a list"),
    ("provenance ref field", dict(provenance="provenance:\n  data_version: v1\n  build_id: {from_pipeline: out.json, «kee: x}\n"),
     "provenance.build_id.kee", "schema.extra_forbidden", "key", "did you mean `key`"),
    ("env var name", dict(model="""
        model:
          artifact: {uri: s3://acme-models/m.tar.gz, image: 1.dkr.ecr.us-east-1.amazonaws.com/m:1}
          environment: {«1BAD: x}
        """), "model.environment.1BAD", "schema.env_var_name", "environment variable", ""),
    ("nan is refused", dict(validation="""
        validation:
          dataset: {uri: s3://acme-data/v.csv, format: csv, version: "1", label_column: y}
          task: binary
          metrics: [auc]
          gates: [{metric: auc, min: «.nan}]
          predictions: {source: local}
        """), "validation.gates[0].min", "schema.finite_number", "finite", ""),
]


@pytest.mark.parametrize("sections, field, rule, expected, message",
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_field_error_is_located(sections, field, rule, expected, message):
    text, line, column = locate(doc(**sections))
    result = load_manifest("models/fraud/modelbot.yaml", text)
    assert result.manifest is None
    hits = [p for p in result.problems if p.field == field]
    assert hits, "\n".join(p.format() for p in result.problems)
    p = hits[0]
    assert (p.line, p.column) == (line, column), p.format()
    if rule:
        assert p.rule == rule, p.format()
    assert expected.lower() in (p.expected or "").lower(), p.format()
    assert message in p.message, p.format()
    assert p.severity == "error"


def test_every_error_in_a_file_is_reported_at_once():
    text = doc(
        metadata="metadata:\n  name: Fraud\n  owners: []\n",
        environments="""
        environments:
          staging:
            mode: realtime
            instance_type: m5.large
            instance_count: 0
          production:
            mode: serverless
            serverless: {memory_mb: 1000, max_concurrency: 300}
            strategy: {type: rolling, max_batch_size: {type: capacity_percent, value: 10}, wait_interval_seconds: 5}
        """)
    result = load_manifest("m.yaml", text)
    fields = {p.field for p in result.problems}
    assert fields >= {
        "metadata.name", "metadata.owners",
        "environments.staging.instance_type", "environments.staging.instance_count",
        "environments.production.serverless.memory_mb",
        "environments.production.serverless.max_concurrency",
    }, [p.format() for p in result.problems]


def test_rules_still_run_for_sections_that_are_valid():
    # staging has a field error; production's cross-field rule is still reported.
    text = doc(environments="""
        environments:
          staging:
            mode: realtime
            instance_type: 5
          production:
            mode: realtime
            instance_type: ml.m5.large
            strategy: {type: canary, wait_interval_seconds: 60}
        """)
    problems = load_manifest("m.yaml", text).problems
    assert {p.field for p in problems} == {"environments.staging.instance_type",
                                          "environments.production.strategy.canary_size"}


def test_problem_format_is_one_line_with_everything():
    text = doc(environments=ENV.replace("mode: realtime", "mode: real-time"))
    [p] = load_manifest("models/fraud/modelbot.yaml", text).problems
    assert p.format() == (
        "models/fraud/modelbot.yaml:15:11: error: environments.production.mode: 'real-time' is "
        "not one of the allowed values (got 'real-time'; expected 'realtime', 'serverless', "
        "'async', 'batch', 'multi_model' or 'inference_component') [schema.literal_error]")
    assert p.to_dict()["line"] == 15


def test_a_missing_top_level_field_does_not_hide_the_rules():
    text = doc(header="apiVersion: modelbot/v1\n", environments="""
        environments:
          production:
            mode: realtime
            instance_type: ml.m5.large
            strategy: {type: canary, wait_interval_seconds: 60}
        """)
    problems = load_manifest("m.yaml", text).problems
    assert {p.field for p in problems} == {"kind", "environments.production.strategy.canary_size"}

"""The model contract's pure parts (issue #14, parts 1 and 6): the manifest's `contract:` section
and its rules, payload and answer checks, sample files, and the backward-compatibility flags the
report shows for a contract that narrows what the live model accepts."""

from __future__ import annotations

import datetime as dt
import json
from types import SimpleNamespace

import pytest

from bot.core.contract import (MAX_SAMPLES, ContractError, answer_problems, contract_changes, encode_payload,
                               judge_answers, parse_answer, payload_problems, read_samples)
from bot.core.manifest import load_manifest
from bot.core.policy import PolicyConfig
from bot.core.review import ManifestChange, review

HEAD = """apiVersion: modelbot/v1
kind: ModelDeployment
metadata:
  name: churn
  owners: [carol]
model:
  artifact:
    uri: s3://acme-models/churn/v3/model.tar.gz
    image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/churn:3.0.0
provenance:
  data_version: "d1"
  build_id: "b1"
{contract}environments:
  production:
    mode: realtime
    instance_type: ml.c5.2xlarge
"""
CONTRACT = """contract:
  input:
    fields:
      - {name: age, type: integer, min: 0, max: 130}
      - {name: plan, type: string, categories: [basic, pro]}
      - {name: spend, type: number, required: false, min: 0}
  output: {type: number, min: 0, max: 1}
"""


def load(contract=CONTRACT):
    r = load_manifest("m.yaml", HEAD.format(contract=contract))
    return r


def contract_of(text=CONTRACT):
    r = load(text)
    assert r.manifest is not None, r.problems
    return r.manifest.contract


def test_a_valid_contract_loads():
    c = contract_of()
    assert [f.name for f in c.input.fields] == ["age", "plan", "spend"]
    assert c.input.content_type == "text/csv" and c.output.accept == "text/csv"


@pytest.mark.parametrize("contract, field, words", [
    (CONTRACT.replace("min: 0, max: 130", "min: 200, max: 130"), "contract.input.fields[0].min",
     "min 200 is above max 130"),
    (CONTRACT.replace("{name: plan, type: string, categories: [basic, pro]}", "{name: plan, type: integer, "
                      "categories: [basic]}"), "contract.input.fields[1].categories", "applies to string fields"),
    (CONTRACT.replace("name: spend", "name: age"), "contract.input.fields[2].name", "listed twice"),
    (CONTRACT.replace("output: {type: number, min: 0, max: 1}", "output: {type: string, max: 1}"),
     "contract.output.max", "applies to number and integer outputs"),
    (CONTRACT.replace("output: {type: number, min: 0, max: 1}", "output: {type: number, shape: [3], "
                      "classes: [a, b]}"), "contract.output.classes", "2 classes for 3 values per record"),
    (CONTRACT + "  samples: {}\n", "contract.samples", "exactly one of `inline` and `path`"),
    (CONTRACT + "  samples:\n    inline:\n      - {age: 40, plan: pro}\n      - {age: 400, plan: gold, x: 1}\n",
     "contract.samples.inline[1]", "400 is above the maximum 130"),
])
def test_contract_rules_are_located_errors(contract, field, words):
    r = load(contract)
    assert r.manifest is None
    hits = [p for p in r.problems if p.field == field]
    assert hits, [(p.field, p.message) for p in r.problems]
    assert words in hits[0].message and hits[0].line > 0


def test_an_inline_sample_names_every_problem():
    r = load(CONTRACT + "  samples:\n    inline:\n      - {age: 400, plan: gold, x: 1}\n")
    [p] = [p for p in r.problems if p.field == "contract.samples.inline[0]"]
    assert "field 'x' is not in the contract's input" in p.message
    assert "field 'age': 400 is above the maximum 130" in p.message
    assert "field 'plan': 'gold' is not an allowed category (basic, pro)" in p.message


def test_a_contract_that_does_not_parse_is_a_schema_error():
    r = load(CONTRACT.replace("type: integer", "type: int"))
    assert r.manifest is None
    assert any(p.field == "contract.input.fields[0].type" for p in r.problems)
    r = load("contract:\n  input: {}\n  output: {}\n")
    assert any(p.field.startswith("contract.input") for p in r.problems)


def test_payload_problems_and_encoding():
    c = contract_of()
    assert payload_problems(c.input, {"age": 40, "plan": "pro"}) == []
    assert payload_problems(c.input, {"plan": "pro"}) == ["field 'age' is required but missing"]
    assert payload_problems(c.input, {"age": None, "plan": "pro"}) == ["field 'age' is required but null"]
    assert payload_problems(c.input, {"age": 4.5, "plan": "pro"}) == ["field 'age': 4.5 is not an integer"]
    assert payload_problems(c.input, {"age": True, "plan": "pro"}) == ["field 'age': true is not an integer"]
    assert encode_payload(c.input, {"age": 40, "plan": "pro"}) == b"40,pro,"
    assert encode_payload(c.input, {"age": 40, "plan": 'a,"b"', "spend": 1.5}) == b'40,"a,""b""",1.5'
    j = contract_of(CONTRACT.replace("  output:", "    content_type: application/json\n  output:"))
    assert json.loads(encode_payload(j.input, {"plan": "pro", "age": 40})) == {"age": 40, "plan": "pro"}


@pytest.mark.parametrize("body, ctype, values", [
    (b"0.7", "text/csv", [0.7]),
    (b"0.3,0.7\n", "text/csv", [0.3, 0.7]),
    (b"[0.7]", "application/json", [0.7]),
    (b'{"predictions": [[0.3, 0.7]]}', "application/json", [0.3, 0.7]),
    (b'{"predictions": [{"score": 0.7}]}', "application/json", [0.7]),
    (b'"cat"', "application/json", ["cat"]),
])
def test_answers_are_read_as_one_record(body, ctype, values):
    assert parse_answer(body, ctype) == values


def test_unreadable_answers_are_errors_not_values():
    with pytest.raises(ContractError, match="not JSON"):
        parse_answer(b"<html>", "application/json")
    with pytest.raises(ContractError, match="2 lines for one record"):
        parse_answer(b"0.1\n0.2", "text/csv")
    with pytest.raises(ContractError, match="without any of"):
        parse_answer(b'{"foo": 1}', "application/json")


def test_answer_problems():
    c = contract_of()
    assert answer_problems(c.output, [0.4]) == []
    assert answer_problems(c.output, [1.4]) == ["1.4 is above the output maximum 1"]
    assert answer_problems(c.output, [0.4, 0.6]) == ["2 value(s) per record, the contract's output shape says 1"]
    assert answer_problems(c.output, ["x"]) == ["'x' is not a number"]
    labels = contract_of(CONTRACT.replace("output: {type: number, min: 0, max: 1}",
                                          "output: {type: string, classes: [stay, churn]}"))
    assert answer_problems(labels.output, ["churn"]) == []
    assert answer_problems(labels.output, ["maybe"]) == ["'maybe' is not one of the classes (stay, churn)"]


def test_judge_answers_names_the_sample_and_the_problem():
    c = contract_of()
    ok = SimpleNamespace(body=b"0.5", content_type="text/csv", error=None)
    bad = SimpleNamespace(body=b"7", content_type="text/csv", error=None)
    failed = SimpleNamespace(body=b"", content_type=None, error="InvokeEndpoint: ModelError: boom")
    payloads = [{"age": 1, "plan": "pro"}, {"age": 2, "plan": "basic"}, {"age": 3, "plan": "pro"}]
    assert judge_answers(c, payloads, [ok, ok, ok]) == []
    msgs = judge_answers(c, payloads, [ok, bad, failed])
    assert msgs == ['sample 2 {"age": 2, "plan": "basic"}: 7 is above the output maximum 1',
                    'sample 3 {"age": 3, "plan": "pro"}: InvokeEndpoint: ModelError: boom']


def test_samples_files_are_bounded_and_located():
    c = contract_of()
    assert read_samples(b'{"age": 1, "plan": "pro"}\n\n{"age": 2, "plan": "basic"}\n', "s.jsonl", c.input) == [
        {"age": 1, "plan": "pro"}, {"age": 2, "plan": "basic"}]
    with pytest.raises(ContractError, match=r"s.jsonl line 2: a payload is a JSON object of fields, not list"):
        read_samples(b'{"age": 1, "plan": "pro"}\n[1]\n', "s.jsonl", c.input)
    with pytest.raises(ContractError, match=f"more than {MAX_SAMPLES} payloads"):
        read_samples(b'{"age": 1, "plan": "pro"}\n' * (MAX_SAMPLES + 1), "s.jsonl", c.input)
    with pytest.raises(ContractError, match="bytes; sample payloads are limited"):
        read_samples(b" " * (300 * 1024), "s.jsonl", c.input)
    with pytest.raises(ContractError, match="no payloads"):
        read_samples(b"\n\n", "s.jsonl", c.input)
    with pytest.raises(ContractError, match="not UTF-8"):
        read_samples(b"\xff\xfe", "s.jsonl", c.input)
    with pytest.raises(ContractError, match="field 'nested' is not a scalar"):
        read_samples(b'{"nested": {"a": 1}}', "s.jsonl", c.input)


def test_changes_that_narrow_what_the_live_model_accepts_are_flagged():
    live = contract_of()
    assert contract_changes(live, live) == []
    widened = contract_of(CONTRACT.replace("min: 0, max: 130", "min: 0, max: 200")
                          .replace("[basic, pro]", "[basic, pro, gold]"))
    assert contract_changes(live, widened) == []
    narrowed = contract_of("""contract:
  input:
    fields:
      - {name: age, type: integer, min: 18, max: 130}
      - {name: plan, type: string, categories: [pro]}
      - {name: spend, type: number, min: 0}
      - {name: region, type: string}
  output: {type: number, shape: [2], min: 0, max: 1}
""")
    msgs = [c.message for c in contract_changes(live, narrowed)]
    assert "input field 'age' narrows from [0, 130] to [18, 130]" in msgs
    assert "input field 'plan' no longer allows 'basic'" in msgs
    assert "input field 'spend' becomes required: callers of the live model may leave it out" in msgs
    assert "input field 'region' is new and required: callers of the live model do not send it" in msgs
    assert any(m.startswith("the answer changes from number [] to number [2]") for m in msgs)
    removed = contract_of(CONTRACT.replace("      - {name: spend, type: number, required: false, min: 0}\n", ""))
    assert [c.message for c in contract_changes(live, removed)] == [
        "input field 'spend' is removed: callers of the live model send it"]
    assert contract_changes(live, None)[0].message.startswith("the contract is removed")
    assert contract_changes(None, live) == []


def test_the_report_flags_a_narrowing_contract_at_its_field():
    base = HEAD.format(contract=CONTRACT).encode()
    head = HEAD.format(contract=CONTRACT.replace("min: 0, max: 130", "min: 18, max: 130")).encode()
    r = review([ManifestChange("m.yaml", "modified", head, base)], known_environments=["production"],
               policy=PolicyConfig(), commit="a" * 40, now=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
               live_reader=None, prices={}, plan_deploys=False)
    [w] = [p for p in r.warnings if p.rule == "contract.compatibility"]
    assert w.field == "contract.input.fields[0].min" and w.severity == "warning"
    assert w.message == "breaks callers of the live model: input field 'age' narrows from [0, 130] to [18, 130]"
    assert w.line == HEAD.format(contract=CONTRACT).splitlines().index(
        "      - {name: age, type: integer, min: 0, max: 130}") + 1
    same = review([ManifestChange("m.yaml", "modified", base, base)], known_environments=["production"],
                  policy=PolicyConfig(), commit="a" * 40, now=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
                  live_reader=None, prices={}, plan_deploys=False)
    assert not [p for p in same.warnings if p.rule == "contract.compatibility"]


def test_hostile_samples_and_answers_are_problems_never_crashes():
    c = contract_of()
    with pytest.raises(ContractError, match="too large"):
        read_samples(b'{"age": ' + b"9" * 400 + b', "plan": "pro"}', "s.jsonl", c.input)
    with pytest.raises(ContractError, match="nested too deep"):
        read_samples(b'{"a": ' + b"[" * 5000 + b"]" * 5000 + b"}", "s.jsonl", c.input)
    with pytest.raises(ContractError, match="limited to 65536 bytes"):
        read_samples(b'{"plan": "' + b"x" * 70000 + b'"}', "s.jsonl", c.input)
    deep = SimpleNamespace(body=b"[" * 2000 + b"]" * 2000, content_type="application/json", error=None)
    huge = SimpleNamespace(body=b"1" + b"0" * 400, content_type="text/csv", error=None)
    payloads = [{"age": 1, "plan": "pro"}] * 2
    msgs = judge_answers(c, payloads, [deep, huge])
    assert "nested deeper than one record" in msgs[0]
    assert "too large (beyond 2^53)" in msgs[1] or "not a finite number" in msgs[1]


def test_integer_classes_accept_a_whole_float_answer():
    labels = contract_of(CONTRACT.replace("output: {type: number, min: 0, max: 1}",
                                          "output: {type: integer, classes: [0, 1]}"))
    assert answer_problems(labels.output, [1.0]) == []
    assert answer_problems(labels.output, [1]) == []
    assert answer_problems(labels.output, [2.0]) == ["2.0 is not one of the classes (0, 1)"]

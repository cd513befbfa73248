"""Capture parsing held against the documented SageMaker data capture format."""

import base64
import json
from datetime import datetime, timezone

from bot.core.experiment.capture import (
    capture_hour_prefix,
    pair_records,
    parse_capture,
    parse_capture_key,
    scores,
)


def line(data_in="1,2,3", out="0.8", *, enc_in="CSV", enc_out="CSV", ct_out="text/csv", event="e-1",
         inference_id=None, time="2024-05-01T10:00:00Z"):
    meta = {"eventId": event, "inferenceTime": time}
    if inference_id:
        meta["inferenceId"] = inference_id
    return json.dumps({"captureData": {
        "endpointInput": {"observedContentType": "text/csv", "mode": "INPUT", "data": data_in, "encoding": enc_in},
        "endpointOutput": {"observedContentType": ct_out, "mode": "OUTPUT", "data": out, "encoding": enc_out}},
        "eventMetadata": meta, "eventVersion": "0"})


def test_documented_lines_give_records_with_ids_time_digest_and_numbers():
    data = (line(event="a", inference_id="req-1") + "\n" + line("4,5,6", "0.1,0.9", event="b") + "\n").encode()
    batch = parse_capture(data)
    assert batch.lines == 2 and batch.skipped == 0
    a, b = batch.records
    assert (a.event_id, a.inference_id, a.output) == ("a", "req-1", (0.8,))
    assert a.inference_time == datetime(2024, 5, 1, 10, tzinfo=timezone.utc)
    assert b.inference_id is None and b.output == (0.1, 0.9)
    assert a.input_digest != b.input_digest and len(a.input_digest) == 64


def test_json_and_base64_outputs_decode_to_numbers():
    js = line(out=json.dumps({"result": "yes"}), enc_out="JSON", ct_out="application/json")
    nested = line(out=json.dumps({"predictions": [{"score": 0.5}, {"score": 0.7}]}), enc_out="JSON")
    js2 = line(out=json.dumps({"predictions": [0.25, 0.75]}), enc_out="JSON", ct_out="application/json")
    b64 = line(base64.b64encode(b"1,2,3").decode(), base64.b64encode(b"[0.3]").decode(), enc_in="BASE64",
               enc_out="BASE64", ct_out="application/json")
    b64csv = line(out=base64.b64encode(b"0.6\n").decode(), enc_out="BASE64", ct_out="text/csv")
    batch = parse_capture("\n".join([js, nested, js2, b64, b64csv]).encode())
    outs = [r.output for r in batch.records]
    assert outs == [None, (0.5, 0.7), (0.25, 0.75), (0.3,), (0.6,)]
    assert batch.undecodable_outputs == 1
    # a BASE64 input digests as its decoded bytes: the same request as the CSV one
    assert batch.records[3].input_digest == parse_capture(line().encode()).records[0].input_digest


def test_truncated_and_malformed_lines_are_counted_never_raised():
    good = line()
    data = "\n".join([good, good[:40], "not json at all }", json.dumps({"eventVersion": "0"}), "[1, 2]", "",
                      good, good[:-10]]).encode()
    batch = parse_capture(data)
    assert len(batch.records) == 2
    assert batch.truncated == 2  # cut mid-line, and the final line without its newline
    assert batch.malformed == 3
    assert batch.problems and all(p.startswith("line ") for p in batch.problems)
    for junk in (b"", b"\n\n", b"\xff\xfe\x00garbage", b'{"captureData": 1}', None, "text"):
        assert parse_capture(junk).records == ()


def test_records_are_capped_and_the_rest_counted():
    data = ("\n".join(line(event=f"e{i}") for i in range(50)) + "\n").encode()
    batch = parse_capture(data, max_records=10)
    assert len(batch.records) == 10 and batch.over_cap == 40


def test_bad_times_are_counted_and_kept_as_none():
    batch = parse_capture((line(time="yesterday") + "\n" + line(time="2024-05-01T10:00:00.123+02:00")).encode())
    assert batch.records[0].inference_time is None and batch.bad_times == 1
    assert batch.records[1].inference_time == datetime(2024, 5, 1, 8, 0, 0, 123000, tzinfo=timezone.utc)


def test_key_layout_prefix_endpoint_variant_hour():
    hour = datetime(2024, 5, 1, 7, tzinfo=timezone.utc)
    prefix = capture_hour_prefix("s3-prefix/capture/", "churn", "shadow-1", hour)
    assert prefix == "s3-prefix/capture/churn/shadow-1/2024/05/01/07/"
    assert parse_capture_key(prefix + "12-34-567-uuid.jsonl") == ("churn", "shadow-1", hour)
    assert parse_capture_key("churn/shadow-1/2024/13/01/07/x.jsonl") is None
    assert parse_capture_key("random/key.jsonl") is None


def test_pairing_by_inference_id_then_event_id_then_input_skew_tolerant():
    prod = parse_capture("\n".join([
        line("1", "0.1", event="p1", inference_id="r1", time="2024-05-01T10:00:05Z"),
        line("2", "0.2", event="same", time="2024-05-01T10:00:00Z"),
        line("3", "0.3", event="p3", time="2024-05-01T10:00:00Z"),
        line("3", "0.31", event="p3b", time="2024-05-01T10:00:09Z"),
        line("4", "0.4", event="p4"),
    ]).encode()).records
    shadow = parse_capture("\n".join([
        line("3", "0.35", event="s3b", time="2024-05-01T09:59:59Z"),  # shadow clock behind
        line("1", "0.15", event="s1", inference_id="r1", time="2024-05-01T09:00:00Z"),
        line("2", "0.25", event="same"),
        line("3", "0.36", event="s3c", time="2024-05-01T10:00:30Z"),
        line("9", "0.9", event="s9"),
    ]).encode()).records
    pairing = pair_records(prod, shadow)
    assert dict(pairing.by) == {"inference_id": 1, "event_id": 1, "input": 2}
    assert sorted(zip(pairing.production.tolist(), pairing.shadow.tolist())) == [
        (0.1, 0.15), (0.2, 0.25), (0.3, 0.35), (0.31, 0.36)]
    assert pairing.ambiguous == 2 and pairing.unmatched_production == 1 and pairing.unmatched_shadow == 1
    assert scores(prod).tolist() == [0.1, 0.2, 0.3, 0.31, 0.4]

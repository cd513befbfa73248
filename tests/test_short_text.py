"""GitHub bounds a Deployment status description at 140 characters: the reason's start (what
failed, which alarm) survives, cut at a clause or word boundary, never mid-word (issue #12)."""

from bot.core.render import short_text

ALARM = "prod-fraud-detector-latency-p99-very-long-alarm-name"


def test_a_long_rollback_reason_keeps_its_first_clause_and_the_alarm_name():
    text = (f"rolled back (alarm {ALARM} in ALARM); the endpoint serves the previous config "
            "fraud-detector-production-abc1234-0123456789 again")
    out = short_text(text, 140)
    assert len(out) <= 140 and ALARM in out and out.endswith("…")
    assert out == f"rolled back (alarm {ALARM} in ALARM)…"


def test_text_within_the_limit_is_unchanged_and_words_are_not_split():
    assert short_text("deployed", 140) == "deployed"
    words = " ".join(["word"] * 60)
    out = short_text(words, 140)
    assert len(out) <= 140 and out.endswith("word…")
    assert short_text("x" * 300, 140) == "x" * 139 + "…"

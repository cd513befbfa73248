"""sagemaker-runtime InvokeEndpoint for a few sample payloads: a thin adapter, one call each.

`invoke_payloads` sends each body (already encoded by `bot.core.contract.encode_payload`) with
the contract's ContentType and Accept, optionally to one production variant (`TargetVariant`,
which overrides the variants' weights) or one model of a multi-model endpoint (`TargetModel`),
and returns what came back, the variant that answered and the latency. AWS errors are kept per
payload as text (the error code and AWS's message, cut short; never a credential), so one bad
answer does not hide the others. Judging the answers is `bot.core.contract`'s job.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from botocore.exceptions import BotoCoreError, ClientError

from bot.core.contract import MAX_ANSWER_BYTES

MODEL_ERROR_CODES = ("ModelError",)  # the container answered with an error status (botocore: ModelError)


@dataclass(frozen=True)
class Answer:
    """One invocation: the answer's body and type, the variant AWS says answered, or an error."""

    body: bytes = b""
    content_type: str | None = None
    variant: str | None = None
    latency_ms: float | None = None
    error: str | None = None
    retriable: bool = False


@dataclass(frozen=True)
class Invocations:
    endpoint: str
    answers: tuple[Answer, ...] = field(default=())

    def to_dict(self) -> dict:
        lat = sorted(a.latency_ms for a in self.answers if a.latency_ms is not None)
        return {"endpoint": self.endpoint, "invocations": len(self.answers), "latencies_ms": lat,
                "p50_ms": lat[len(lat) // 2] if lat else None, "max_ms": lat[-1] if lat else None,
                "errors": [a.error for a in self.answers if a.error]}


_RETRIABLE = ("ThrottlingException", "ServiceUnavailable", "InternalFailure", "ModelNotReadyException",
              "InternalDependencyException")


def _error(exc: Exception) -> tuple[str, bool]:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = err.get("Code", "Error")
        message = (err.get("Message") or "")[:300]
        original = exc.response.get("OriginalStatusCode")
        extra = f" (the container answered HTTP {original})" if original else ""
        return f"InvokeEndpoint: {code}: {message}{extra}", code in _RETRIABLE
    return f"InvokeEndpoint: {type(exc).__name__}: {str(exc)[:300]}", True


def invoke_payloads(client, endpoint: str, bodies: list[bytes], *, content_type: str, accept: str,
                    target_variant: str | None = None, target_model: str | None = None,
                    inference_component: str | None = None,
                    budget_seconds: float | None = None) -> Invocations:
    """Invoke `endpoint` once per body; see the module docstring. With `budget_seconds`, bodies
    not sent when the budget has run out are answered with that error (not worth retrying: a
    model this slow fails its smoke test)."""
    answers = []
    begun = time.monotonic()
    for body in bodies:
        if budget_seconds is not None and time.monotonic() - begun > budget_seconds:
            answers.append(Answer(error=f"not sent: the {budget_seconds:g} s the samples may take ran out"))
            continue
        kwargs = {"EndpointName": endpoint, "ContentType": content_type, "Accept": accept, "Body": body}
        if target_variant:
            kwargs["TargetVariant"] = target_variant
        if target_model:
            kwargs["TargetModel"] = target_model
        if inference_component:
            kwargs["InferenceComponentName"] = inference_component
        started = time.perf_counter()
        try:
            answer = client.invoke_endpoint(**kwargs)
            raw = answer["Body"].read(MAX_ANSWER_BYTES)
        except (ClientError, BotoCoreError) as exc:
            text, retriable = _error(exc)
            answers.append(Answer(error=text, retriable=retriable))
            continue
        answers.append(Answer(raw, answer.get("ContentType"), answer.get("InvokedProductionVariant"),
                              round((time.perf_counter() - started) * 1000, 2)))
    return Invocations(endpoint, tuple(answers))

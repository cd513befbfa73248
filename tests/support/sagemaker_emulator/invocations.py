"""SageMaker Runtime InvokeEndpoint: routing to the serving fleet, refusals, container behaviour.

`h_invoke_endpoint` replaces moto's `SageMakerRuntimeResponse.invoke_endpoint` (moto 5.2 ignores
TargetVariant/TargetModel, answers any endpoint name, existing or not, and returns canned
results). Written against botocore's sagemaker-runtime service model (2017-05-13: shapes
InvokeEndpointInput/Output, BodyBlob, ValidationError, ModelError) and the SageMaker Developer
Guide ("Guide"). Each rule below names its source; what AWS does not document is marked
"Assumption:".

Rules, in the order they are checked
------------------------------------
1. Body size (the serverless limit once the variant is chosen, after rule 8): botocore
   `BodyBlob` has `max` 6291456 bytes; the Guide's Hosting FAQ: real-time
   inference takes "payload sizes up to 6 MB". A larger body is a ValidationError (botocore's
   error for a request that breaks the model; assumption: worded as AWS words other shape
   constraints, "1 validation error detected: Value at 'body' failed to satisfy constraint:
   Member must have length less than or equal to 6291456"). Serverless
   variants: Guide "Invoke a serverless endpoint": "The maximum request and response payload
   size for serverless invocations is 4 MB" (assumption: 4 MB = 4194304 bytes; wording of the
   refusal is the emulator's).
2. The endpoint must exist in the caller's account and region (InvokeEndpoint: "Endpoints are
   scoped to an individual account"): ValidationError "Endpoint <name> of account <account> not
   found." - the message AWS answers (aws/amazon-sagemaker-examples#293 and #559).
3. It must be serving. CreateEndpoint: SageMaker sets the status to Creating and, once created,
   to InService; "SageMaker can then process incoming requests for inferences" - so Creating is
   refused. EndpointStatus (botocore): OutOfService "is not available to take incoming
   requests"; Failed: "DeleteEndpoint is the only operation that can be performed on a failed
   endpoint". Assumption: Deleting is refused too (DeleteEndpoint "asynchronously deletes
   associated endpoint resources"; nothing says it still serves). Updating, SystemUpdating,
   RollingBack and UpdateRollbackFailed ("Your endpoint is in service with a mix of the old and
   new endpoint configurations") serve. Assumption: the wording of the refusal ("Endpoint <name>
   of account <account> is not in service: EndpointStatus <status>.").
4. The serving fleets are the ones the emulator's deployment state puts traffic on (the same
   numbers DescribeEndpoint shows as CurrentWeight): with no deployment running, the live
   config's production variants at their weights; during UpdateEndpoint (blue/green, canary,
   linear, rolling, rollback) a variant of the old fleet carries weight w*(1-f) and the new one
   w*f, f being the phase's share of traffic on the new fleet; during
   UpdateEndpointWeightsAndCapacities the current weights apply until the update ends.
   InvokeEndpoint reads that state; it never moves a deployment on (only describe calls do).
5. TargetVariant (botocore: "Specify the production variant to send the inference request to
   when invoking an endpoint that is running two or more variants. Note that this parameter
   overrides the default behavior for the endpoint, which is to distribute the invocation
   traffic based on the variant weights"): it must name a production variant of a serving
   fleet; a shadow variant's name or an unknown name is a ValidationError (assumption: the
   wording). Weights are ignored, so a weight-0 variant can be targeted; during an update the
   request goes to the old or the new fleet's variant of that name by the phase's share.
   Assumption: a variant only in a fleet that takes no traffic yet (the new fleet while it is
   provisioned) cannot be targeted.
6. Without TargetVariant a production variant is chosen by its current weight with a smooth
   weighted round robin (deterministic: over a cycle the counts match the weight ratio exactly;
   ties go to the first variant in config order); a weight-0 variant is never chosen.
   Assumption: when every serving variant has weight 0 the request is a ValidationError.
7. Shadow variants (Guide "Shadow tests": SageMaker "routes a copy of the inference requests to
   it in real time within the same endpoint. Only the responses of the production variant are
   returned to the calling application"; "Create a shadow test": the shadow "receives a
   percentage of the incoming requests, replicated from the production variant, but does not
   return any responses"): the shadow of the fleet that served receives a copy, recorded in the
   invocation log with
   `shadow_copy: True`; its answer is discarded (a shadow's container error does not fail the
   request). The share of requests copied is the shadow's weight over the production variant's
   (capped at 1): for an inference experiment the emulator stores the shadow's weight as
   production weight x SamplingPercentage / 100 ("The percentage of inference requests that
   Amazon SageMaker replicates from the production variant to the shadow variant",
   ShadowModelVariantConfig), so that is the documented percentage; for ShadowProductionVariants
   in an endpoint config the same ratio is an assumption (equal weights: every request). Copies
   are sampled deterministically (a running credit, no randomness).
8. TargetModel (botocore: "The model to request for inference when invoking a multi-model
   endpoint"; Guide "Invoke a Multi-Model Endpoint": it "takes the relative path of the model",
   and SageMaker "constructs the absolute path of the model by combining the prefix that is
   provided as part of the CreateModel API call with the relative path"): only for a variant
   whose model's container has Mode MultiModel, else a ValidationError. Assumption: a
   multi-model variant invoked without TargetModel is a ValidationError too (there is no model to
   load); both wordings are the emulator's.
9. The container answers (user code, not AWS: the test defines it, see `register_container`). A
   2xx answer is returned with its Body and ContentType and InvokedProductionVariant (header
   `x-Amzn-Invoked-Production-Variant`, botocore "Identifies the production variant that was
   invoked"). A non-2xx answer is a ModelError, HTTP 424 (botocore: "Model (owned by the
   customer in the container) returned 4xx or 5xx error code") with OriginalStatusCode,
   OriginalMessage (the container's body) and LogStreamArn. Assumption: the message follows what
   AWS users see ('Received server error (500) from primary with message "...". See <CloudWatch
   URL> in account <account> for more information.', 'client error' for 4xx; re:Post
   "...received client error 413 from primary..."), and the log stream is
   /aws/sagemaker/Endpoints/<endpoint>, stream <variant>/emulator (Guide: endpoint logs go to that
   log group, one stream per variant and instance). A container function that raises answers 500
   with the exception as its message (what a model server does with an unhandled exception).
10. No container registered for the serving model: moto's canned results
   (/moto-api/static/sagemaker/endpoint-results, queued, the same answer for a repeated
   request) give Body, ContentType and CustomAttributes, after rules 1-8; the
   InvokedProductionVariant is always the variant the emulator routed to.

Not modelled: ModelNotReadyException (a multi-model target model being loaded, a serverless
variant provisioning), checks that a TargetModel exists in S3, response size limits,
TargetContainerHostname, sessions, data capture. InferenceComponentName: rules in module
component_handlers (`route_invocation`), checked after rule 6; the component's model then
answers as in rules 8-10.

Container behaviour
-------------------
`register_container(key, behaviour)`: `key` is a model's ModelDataUrl (for a multi-model
container the S3 prefix, or the prefix joined with a TargetModel to give one target model its
own behaviour) or a SageMaker model name. Looked up in this order: prefix + TargetModel (multi-
model only), the container's ModelDataUrl (or ModelDataSource S3Uri), the model name.
`behaviour` is a function `fn(body: bytes, content_type: str | None, accept: str | None,
target_model: str | None) -> (status: int, body: bytes | str, content_type: str | None)` or
a declarative dict (also usable over HTTP in server mode):

  {"kind": "constant", "body": "0.7", "content_type"?: ..., "status"?: 200}
  {"kind": "echo", "content_type"?: ...}                     the request body back
  {"kind": "error", "status": 500, "message": "..."}         a container error (ModelError)
  {"kind": "csv_rows", "value": "0.5", "content_type"?: ...} one value per non-empty input line
  {"kind": "by_target_model", "models": {"a.tar.gz": {...}}, "default"?: {...}}
                                                             per TargetModel (404 if none fits)

An answer's content type defaults to the spec's `content_type`, else the request's Accept, else
its ContentType (echo: ContentType before Accept; csv_rows: text/csv before ContentType; error:
text/plain), else application/octet-stream. Registrations are cleared by any moto reset.

Invocation log
--------------
`invocations(endpoint_name)` lists every request a container received, oldest first:
{"variant", "target_model", "content_type", "accept", "body" (bytes), "shadow_copy",
"endpoint_config", "model", "status" (the container's, or 200 for a canned result)}. Refused
requests are not in it. Kept on moto's SageMaker backend, so any moto reset clears it.
"""

from __future__ import annotations

import base64
import copy
import json
import urllib.parse
from typing import Any, Callable

from .common import DEFAULT_ACCOUNT_ID, DEFAULT_REGION, _LOCK
from .state import _Fleet, _Variant, _backend, _runtime, _state, _status

REALTIME_MAX_BODY = 6291456  # botocore sagemaker-runtime BodyBlob "max"
SERVERLESS_MAX_BODY = 4 * 1024 * 1024  # Guide "Invoke a serverless endpoint": 4 MB
BEHAVIOUR_KINDS = ("constant", "echo", "error", "csv_rows", "by_target_model")

# Statuses in which an endpoint serves requests (see rule 3 of the module docstring).
_SERVING = ("InService", "Updating", "SystemUpdating", "RollingBack", "UpdateRollbackFailed")

Container = Callable[[bytes, "str | None", "str | None", "str | None"], tuple]

_containers: dict[str, Container] = {}
_specs: dict[str, dict | None] = {}  # key -> declarative spec (None for a function)


# --------------------------------------------------------------------------- errors


_error_classes: dict[str, type] = {}


def _error_class(code: str) -> type:
    """A moto ServiceException for a sagemaker-runtime error shape: moto serializes it with the
    shape's HTTP status and modelled members from botocore's service model."""
    if code not in _error_classes:
        from moto.core.exceptions import ServiceException

        _error_classes[code] = type(code, (ServiceException,), {"code": code})
    return _error_classes[code]


def _validation_error(message: str) -> Exception:
    """botocore sagemaker-runtime ValidationError (HTTP 400): "Inspect your request and try
    again". Its code is ValidationError, not SageMaker's ValidationException."""
    return _error_class("ValidationError")(message)


def _model_error(message: str, status: int, original: str, log_stream_arn: str) -> Exception:
    """botocore sagemaker-runtime ModelError (HTTP 424) with its modelled members."""
    error = _error_class("ModelError")(message)
    error.OriginalStatusCode = status
    error.OriginalMessage = original
    error.LogStreamArn = log_stream_arn
    return error


# --------------------------------------------------------------------------- containers


def _default_type(spec: dict, content_type: str | None, accept: str | None) -> str:
    return spec.get("content_type") or accept or content_type or "application/octet-stream"


def container_behaviour(spec: dict) -> Container:
    """A container function from a declarative spec (kinds: BEHAVIOUR_KINDS)."""
    if not isinstance(spec, dict) or spec.get("kind") not in BEHAVIOUR_KINDS:
        raise ValueError(f"behaviour must be a function or a dict with kind in {BEHAVIOUR_KINDS}")
    spec = copy.deepcopy(spec)
    kind = spec["kind"]
    if kind == "constant":
        if "body" not in spec:
            raise ValueError("a constant behaviour needs 'body'")
        text = spec["body"]
        status = int(spec.get("status", 200))

        def constant(body: bytes, content_type: str | None, accept: str | None,
                     target_model: str | None) -> tuple:
            return status, text, _default_type(spec, content_type, accept)

        return constant
    if kind == "echo":

        def echo(body: bytes, content_type: str | None, accept: str | None,
                 target_model: str | None) -> tuple:
            return 200, body, spec.get("content_type") or content_type or accept or \
                "application/octet-stream"

        return echo
    if kind == "error":
        status = int(spec.get("status", 500))
        if 200 <= status < 300:
            raise ValueError("an error behaviour needs a status outside 2xx")
        message = str(spec.get("message", "Internal Server Error"))

        def error(body: bytes, content_type: str | None, accept: str | None,
                  target_model: str | None) -> tuple:
            return status, message, spec.get("content_type") or "text/plain"

        return error
    if kind == "csv_rows":
        value = str(spec.get("value", "0.5"))

        def csv_rows(body: bytes, content_type: str | None, accept: str | None,
                     target_model: str | None) -> tuple:
            lines = [line for line in body.decode("utf-8", "replace").splitlines() if line.strip()]
            return 200, "\n".join(value for _ in lines), _default_type(spec, "text/csv", accept)

        return csv_rows
    models = {name: container_behaviour(s) for name, s in (spec.get("models") or {}).items()}
    default = container_behaviour(spec["default"]) if spec.get("default") else None

    def by_target_model(body: bytes, content_type: str | None, accept: str | None,
                        target_model: str | None) -> tuple:
        fn = models.get(target_model or "", default)
        if fn is None:
            return 404, f"Model {target_model} not found", "text/plain"
        return fn(body, content_type, accept, target_model)

    return by_target_model


def register_container(key: str, behaviour: Container | dict | None) -> None:
    """What the model code answers for `key` (a ModelDataUrl, a multi-model prefix or
    prefix + TargetModel, or a model name): a function or a declarative dict (see the module
    docstring). None removes the registration. Cleared by any moto reset."""
    if not key:
        raise ValueError("key must be a ModelDataUrl or a model name")
    with _LOCK:
        if behaviour is None:
            _containers.pop(key, None)
            _specs.pop(key, None)
            return
        if callable(behaviour):
            fn, spec = behaviour, None
        else:
            fn, spec = container_behaviour(behaviour), copy.deepcopy(behaviour)
        _containers[key] = fn
        _specs[key] = spec


def registered_containers() -> dict[str, dict | None]:
    """Keys with a registered behaviour -> their declarative spec (None for a function)."""
    with _LOCK:
        return copy.deepcopy(_specs)


def _reset_containers() -> None:
    with _LOCK:
        _containers.clear()
        _specs.clear()


# --------------------------------------------------------------------------- routing


def _primary(backend: Any, model_name: str | None) -> tuple[Any, dict]:
    model = backend._models.get(model_name) if model_name else None
    if model is None:
        return None, {}
    container = model.primary_container or ((model.containers or [None])[0]) or {}
    return model, container


def _is_multi_model(container: dict) -> bool:
    return container.get("Mode") == "MultiModel"


def _data_url(container: dict) -> str | None:
    source = (container.get("ModelDataSource") or {}).get("S3DataSource") or {}
    return container.get("ModelDataUrl") or source.get("S3Uri")


def _join(prefix: str, relative: str) -> str:
    return prefix + relative if prefix.endswith("/") else f"{prefix}/{relative}"


def _container_for(model_name: str | None, container: dict, target_model: str | None
                   ) -> Container | None:
    url = _data_url(container)
    keys: list[str] = []
    if url and target_model:
        keys.append(_join(url, target_model))
    if url:
        keys.append(url)
    if model_name:
        keys.append(model_name)
    for key in keys:
        if key in _containers:
            return _containers[key]
    return None


def _serving_fleets(rt: Any) -> list[tuple[_Fleet, _Variant, float]]:
    """(fleet, production variant, share of that variant's traffic on this fleet) - rule 4.

    The emulator's own deployment state (phases.py): during UpdateEndpoint the old fleet's
    variant carries 1 - f of its traffic and the new fleet's f, as DescribeEndpoint renders
    CurrentWeight (lifecycle._render_endpoint); otherwise the live fleet. Assumption: a
    variant's traffic splits between the fleets in that ratio request by request (AWS documents
    the share of capacity shifted, not how single requests are routed)."""
    dep = rt.deployment
    phase = dep.current if dep is not None else None
    out: list[tuple[_Fleet, _Variant, float]] = []
    if dep is not None and phase is not None and dep.kind == "update" and dep.green is not None:
        if rt.live is not None:
            out += [(rt.live, v, 1.0 - phase.f(v.name)) for v in rt.live.variants]
        out += [(dep.green, v, phase.f(v.name)) for v in dep.green.variants]
    elif rt.live is not None:
        out += [(rt.live, v, 1.0) for v in rt.live.variants]
    return out


def _round_robin(credits: dict[tuple, float], weighted: list[tuple[tuple, float]]) -> tuple:
    """Smooth weighted round robin over (key, weight > 0); keeps `credits` for the next call.

    Keys are (kind, config, variant); credits of the same kind for variants that no longer
    serve are dropped (the other kinds share the dict and are left alone)."""
    live = {key for key, _ in weighted}
    kinds = {key[0] for key in live}
    for key in list(credits):
        if key[0] in kinds and key not in live:
            del credits[key]
    total = sum(w for _, w in weighted)
    best = None
    for key, weight in weighted:
        credits[key] = credits.get(key, 0.0) + weight
        if best is None or credits[key] > credits[best] + 1e-12:
            best = key
    assert best is not None
    credits[best] -= total
    return best


def _choose(backend: Any, rt: Any, name: str, target_variant: str | None
            ) -> tuple[_Fleet, _Variant]:
    account = backend.account_id
    serving = _serving_fleets(rt)
    credits = _state(backend).routing.setdefault(name, {})
    if target_variant is not None:
        # botocore TargetVariant: "Specify the production variant to send the inference request
        # to ... this parameter overrides the default behavior for the endpoint, which is to
        # distribute the invocation traffic based on the variant weights." So: production
        # variants only, weights ignored. Assumption: the wording of the refusal.
        matches = [(f, v, share) for f, v, share in serving if v.name == target_variant]
        flowing = [(f, v, share) for f, v, share in matches if share > 1e-12]
        if not flowing:
            configs = sorted({f.config_name for f, _, share in serving if share > 1e-12})
            shadows = {s.name for f, _, _ in serving for s in f.shadows}
            what = ("is a shadow variant, not a production variant" if target_variant in shadows
                    else "is not a production variant")
            raise _validation_error(
                f'The variant "{target_variant}" {what} of endpoint "{name}" of account '
                f"{account} (endpoint configuration {', '.join(configs) or 'none'}); "
                "TargetVariant must name a production variant.")
        if len(flowing) == 1:
            return flowing[0][0], flowing[0][1]
        key = _round_robin(credits, [(("target", f.config_name, v.name), share)
                                     for f, v, share in flowing])
        fleet, variant, _ = next(x for x in flowing if ("target", x[0].config_name, x[1].name) == key)
        return fleet, variant
    # Rule 6: botocore TargetVariant names the default, "to distribute the invocation traffic
    # based on the variant weights"; the current weight is what DescribeEndpoint shows
    # (CurrentWeight). Deterministic smooth weighted round robin.
    weighted = [(f, v, v.weight * share) for f, v, share in serving if v.weight * share > 1e-12]
    if not weighted:
        # Assumption: AWS documents no answer for an endpoint whose variants all weigh 0.
        raise _validation_error(
            f'Endpoint "{name}" of account {account} has no production variant with a weight '
            "above 0; use TargetVariant to invoke a variant.")
    key = _round_robin(credits, [(("weight", f.config_name, v.name), w) for f, v, w in weighted])
    fleet, variant, _ = next(x for x in weighted if ("weight", x[0].config_name, x[1].name) == key)
    return fleet, variant


def _shadow_copies(backend: Any, name: str, fleet: _Fleet, variant: _Variant) -> list[_Variant]:
    """Shadows of the fleet that served that get a copy of this request (rule 7).

    Guide "Create a shadow test": the shadow "receives a percentage of the incoming requests,
    replicated from the production variant". The percentage is shadow weight / production
    weight: documented for inference experiments (the emulator stores SamplingPercentage that
    way); assumption for ShadowProductionVariants in an endpoint config."""
    credits = _state(backend).routing.setdefault(name, {})
    out = []
    for shadow in fleet.shadows:
        fraction = 1.0 if variant.weight <= 0 else min(1.0, shadow.weight / variant.weight)
        key = ("shadow", fleet.config_name, shadow.name)
        credits[key] = credits.get(key, 0.0) + fraction
        if credits[key] >= 1.0 - 1e-9:
            credits[key] -= 1.0
            out.append(shadow)
    return out


# --------------------------------------------------------------------------- the handler


def _endpoint_name(self: Any) -> str:
    match = getattr(self, "uri_match", None) or {}
    name = match.get("EndpointName")
    if not name:
        name = urllib.parse.unquote(self.path.split("/")[2])
    return name


def _header(self: Any, name: str) -> str | None:
    value = self.headers.get(name)
    return value if value not in (None, "") else None


def _raw_body(self: Any) -> bytes:
    body = getattr(self, "raw_body", None)
    if body is None:
        body = self.body
    if body is None:
        return b""
    return body.encode("utf-8") if isinstance(body, str) else bytes(body)


def _call(fn: Container, body: bytes, content_type: str | None, accept: str | None,
          target_model: str | None) -> tuple[int, bytes, str]:
    try:
        answer = fn(body, content_type, accept, target_model)
        status, out, out_type = (tuple(answer) + (None,))[:3]
        status = int(status)
    except Exception as exc:  # the model server answers an unhandled exception with a 500
        return 500, f"{type(exc).__name__}: {exc}".encode(), "text/plain"
    if isinstance(out, str):
        out = out.encode("utf-8")
    elif out is None:
        out = b""
    return status, bytes(out), out_type or accept or content_type or "application/octet-stream"


def _canned(self: Any, name: str, body: bytes) -> tuple[str, str, str | None]:
    """moto's queued results, with the same request key moto's own handler computes."""
    from moto.sagemakerruntime.models import sagemakerruntime_backends

    unique = {k: v for k, v in self.headers.items() if k.lower().startswith("x-amzn-sagemaker")}
    unique["Accept"] = self.headers.get("Accept")
    unique["Body"] = body.decode("utf-8", "replace")
    backend = sagemakerruntime_backends[self.current_account][self.region]
    out_body, out_type, _variant, attributes = backend.invoke_endpoint(
        endpoint_name=name, unique_repr=base64.b64encode(json.dumps(unique).encode("utf-8")))
    return out_body, out_type, attributes


def h_invoke_endpoint(self: Any) -> Any:
    """SageMakerRuntimeResponse.invoke_endpoint (the rules are in the module docstring)."""
    name = _endpoint_name(self)
    body = _raw_body(self)
    content_type = _header(self, "Content-Type")
    accept = _header(self, "Accept")
    target_variant = _header(self, "X-Amzn-SageMaker-Target-Variant")
    target_model = _header(self, "X-Amzn-SageMaker-Target-Model")
    # Rule 1: botocore BodyBlob "max": 6291456; Guide Hosting FAQ "payload sizes up to 6 MB".
    # Assumption: the wording (AWS's usual shape-constraint message).
    if len(body) > REALTIME_MAX_BODY:
        raise _validation_error(
            "1 validation error detected: Value at 'body' failed to satisfy constraint: Member "
            f"must have length less than or equal to {REALTIME_MAX_BODY}")
    with _LOCK:
        backend = _backend(self.current_account, self.region)
        account = backend.account_id
        # Rule 2: the message AWS answers (aws/amazon-sagemaker-examples#293, #559).
        if name not in backend.endpoints:
            raise _validation_error(f"Endpoint {name} of account {account} not found.")
        rt = _runtime(backend, name)
        status = _status(rt)
        # Rule 3: CreateEndpoint ("SageMaker can then process incoming requests" once
        # InService), EndpointStatus OutOfService / Failed (botocore). Assumption: Deleting is
        # refused, and the wording.
        if status not in _SERVING or not _serving_fleets(rt):
            raise _validation_error(
                f"Endpoint {name} of account {account} is not in service: EndpointStatus "
                f"{status}.")
        fleet, variant = _choose(backend, rt, name, target_variant)
        # InferenceComponentName (header X-Amzn-SageMaker-Inference-Component): module
        # component_handlers, `route_invocation`, has its rules; the variant comes back with
        # the component's model.
        from .component_handlers import route_invocation

        variant = route_invocation(backend, name, variant,
                                   _header(self, "X-Amzn-SageMaker-Inference-Component"),
                                   _validation_error)
        model, container = _primary(backend, variant.model)
        multi = _is_multi_model(container)
        # Rule 8: botocore TargetModel "when invoking a multi-model endpoint"; Guide "Invoke a
        # Multi-Model Endpoint". Assumption: both wordings, and refusing a multi-model variant
        # invoked without TargetModel.
        if target_model is not None and not multi:
            raise _validation_error(
                f'Endpoint "{name}" variant "{variant.name}" hosts a single model (container '
                "Mode SingleModel): TargetModel is only for multi-model endpoints.")
        if target_model is None and multi:
            raise _validation_error(
                f'Endpoint "{name}" variant "{variant.name}" is a multi-model endpoint: specify '
                "TargetModel, the model's path relative to the container's ModelDataUrl.")
        # Rule 1, serverless: Guide "Invoke a serverless endpoint": 4 MB. Assumption: MB =
        # 2**20 bytes, and the wording.
        if variant.serverless and len(body) > SERVERLESS_MAX_BODY:
            raise _validation_error(
                f"Request payload of {len(body)} bytes exceeds the {SERVERLESS_MAX_BODY} bytes "
                "(4 MB) serverless inference allows.")
        shadows = _shadow_copies(backend, name, fleet, variant)
        fn = _container_for(variant.model, container, target_model)
        shadow_calls = []
        for shadow in shadows:
            _, shadow_container = _primary(backend, shadow.model)
            shadow_target = target_model if _is_multi_model(shadow_container) else None
            shadow_calls.append((shadow, shadow_target,
                                 _container_for(shadow.model, shadow_container, shadow_target)))
    # Containers are user code: called without the lock (a function may call moto itself).
    custom_attributes = None
    if fn is None:  # rule 10: moto's canned results
        out_body, out_type, custom_attributes = _canned(self, name, body)
        answer = (200, out_body.encode("utf-8") if isinstance(out_body, str) else out_body,
                  out_type)
    else:
        answer = _call(fn, body, content_type, accept, target_model)
    shadow_answers = [(s, t, _call(f, body, content_type, accept, t)[0] if f else 200)
                      for s, t, f in shadow_calls]

    def entry(v: _Variant, fleet_config: str, target: str | None, copy_: bool, code: int) -> dict:
        return {"variant": v.name, "target_model": target, "content_type": content_type,
                "accept": accept, "body": body, "shadow_copy": copy_,
                "endpoint_config": fleet_config, "model": v.model, "status": code}

    with _LOCK:
        log = _state(backend).invocations.setdefault(name, [])
        log.append(entry(variant, fleet.config_name, target_model, False, answer[0]))
        for shadow, target, code in shadow_answers:
            log.append(entry(shadow, fleet.config_name, target, True, code))

    code, out, out_type = answer
    # Rule 9: botocore ModelError (HTTP 424, OriginalStatusCode, OriginalMessage, LogStreamArn):
    # "Model (owned by the customer in the container) returned 4xx or 5xx error code".
    # Assumption: the message as users report it (re:Post: "...error (413) from primary...") and
    # the log stream name.
    if not 200 <= code < 300:
        region = backend.region_name
        original = out.decode("utf-8", "replace")
        side = "client" if 400 <= code < 500 else "server"
        raise _model_error(
            f'Received {side} error ({code}) from primary with message "{original}". See '
            f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
            f"#logEventViewer:group=/aws/sagemaker/Endpoints/{name} in account {account} for "
            "more information.",
            code, original,
            f"arn:aws:logs:{region}:{account}:log-group:/aws/sagemaker/Endpoints/{name}:"
            f"log-stream:{variant.name}/emulator")
    headers = {"Content-Type": out_type or "application/octet-stream",
               "x-Amzn-Invoked-Production-Variant": variant.name}
    if custom_attributes:
        headers["X-Amzn-SageMaker-Custom-Attributes"] = custom_attributes
    return 200, headers, out


# --------------------------------------------------------------------------- the log


def invocations(endpoint_name: str, *, account_id: str = DEFAULT_ACCOUNT_ID,
                region: str = DEFAULT_REGION) -> list[dict]:
    """Every request a container of `endpoint_name` received, oldest first (shadow copies
    included, `shadow_copy: True`); see the module docstring for the keys."""
    with _LOCK:
        return copy.deepcopy(_state(_backend(account_id, region)).invocations.get(endpoint_name, []))


def _encode_entry(entry: dict) -> dict:
    out = dict(entry)
    out["body"] = base64.b64encode(entry["body"]).decode("ascii")
    return out


def _decode_entry(entry: dict) -> dict:
    out = dict(entry)
    out["body"] = base64.b64decode(entry["body"])
    return out

"""Test control, installing into moto, and helpers for a moto server.

`force_outcome` / `current_phase` and the /moto-api/sagemaker-emulator control routes
(force-outcome, configure, phase, register-container, invocations), `install()` / `uninstall()`
/ `is_installed()` (reference-counted patches of moto, SageMaker Runtime's InvokeEndpoint
included), `start_moto_server`, the `*_remote` helpers and `client`.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any, Callable

from .common import (
    CONTROL_PREFIX,
    DEFAULT_ACCOUNT_ID,
    DEFAULT_REGION,
    FORCEABLE_OUTCOMES,
    _LOCK,
    configure,
    _reset_settings,
)
from .endpoints import (
    h_add_tags,
    h_create_endpoint,
    h_create_endpoint_config,
    h_create_model,
    h_delete_endpoint,
    h_describe_endpoint,
    h_describe_endpoint_config,
    h_update_endpoint,
    h_update_endpoint_weights_and_capacities,
    _validate_instance_type,
    _wrap_get_resource_from_arn,
)
from .component_handlers import (
    h_create_inference_component,
    h_delete_inference_component,
    h_describe_inference_component,
    h_list_inference_components,
    h_update_inference_component,
    h_update_inference_component_runtime_config,
    wrap_delete_endpoint,
    wrap_describe_endpoint,
    wrap_get_resource_from_arn,
    wrap_validate_production_variants,
)
from .experiments import (
    h_create_inference_experiment,
    h_describe_inference_experiment,
    h_list_inference_experiments,
    h_start_inference_experiment,
    h_stop_inference_experiment,
)
from .invocations import (
    _decode_entry,
    _encode_entry,
    _reset_containers,
    h_invoke_endpoint,
    invocations,
    register_container,
)
from .responses import _ORIGINAL
from .state import _Forced, _backend, _runtime, _state
from .transform import h_create_transform_job, h_describe_transform_job, h_stop_transform_job


def force_outcome(
    endpoint_name: str,
    outcome: str,
    *,
    reason: str | None = None,
    at_phase: str | None = None,
    account_id: str = DEFAULT_ACCOUNT_ID,
    region: str = DEFAULT_REGION,
) -> None:
    """Arm an outcome (Failed | UpdateRollbackFailed | RolledBack) for an endpoint's deployment.

    Applied on the next DescribeEndpoint tick of the running deployment (or of the next one
    started), or when it reaches the phase whose label or variant stage equals `at_phase`.
    Failed: the endpoint goes Failed (old config kept; a failed create has no variants).
    UpdateRollbackFailed: RollingBack, then UpdateRollbackFailed. RolledBack: RollingBack, then
    InService on the old config with FailureReason, as after an alarm.
    """
    if outcome not in FORCEABLE_OUTCOMES:
        raise ValueError(f"outcome must be one of {FORCEABLE_OUTCOMES}")
    with _LOCK:
        _state(_backend(account_id, region)).forced[endpoint_name] = _Forced(outcome, reason, at_phase)


def current_phase(
    endpoint_name: str, *, account_id: str = DEFAULT_ACCOUNT_ID, region: str = DEFAULT_REGION
) -> str | None:
    """Label of the phase the endpoint's deployment is in (None when none runs); no tick."""
    with _LOCK:
        backend = _backend(account_id, region)
        if endpoint_name not in backend.endpoints:
            return None
        rt = _runtime(backend, endpoint_name)
        phase = rt.deployment.current if rt.deployment else None
        return phase.label if phase else None


def _json_body(request: Any) -> dict:
    try:
        data = request.get_data()
    except Exception:  # pragma: no cover - non-werkzeug request
        data = getattr(request, "body", b"")
    if not data:
        length = int(request.headers.get("Content-Length") or 0)
        data = request.environ["wsgi.input"].read(length) if length else b""
    if isinstance(data, bytes):
        data = data.decode("utf-8")
    return json.loads(data) if data else {}


def _control_response(fn: Callable[[dict], Any]) -> Callable:
    def view(request: Any, full_url: str, headers: Any) -> tuple[int, dict, str]:
        try:
            result = fn(_json_body(request))
        except (ValueError, KeyError, TypeError) as exc:
            return 400, {"Content-Type": "application/json"}, json.dumps({"Error": str(exc)})
        return 200, {"Content-Type": "application/json"}, json.dumps(result)

    view.__name__ = f"sagemaker_emulator_{fn.__name__.lstrip('_')}"
    view.__module__ = __package__  # "tests.support.sagemaker_emulator", as when it was one module
    return view


def _control_force(body: dict) -> dict:
    force_outcome(
        body["endpoint_name"], body["outcome"], reason=body.get("reason"),
        at_phase=body.get("at_phase"), account_id=body.get("account_id", DEFAULT_ACCOUNT_ID),
        region=body.get("region", DEFAULT_REGION),
    )
    return {"status": "ok"}


def _control_configure(body: dict) -> dict:
    return configure(**body)


def _control_phase(body: dict) -> dict:
    return {"phase": current_phase(
        body["endpoint_name"], account_id=body.get("account_id", DEFAULT_ACCOUNT_ID),
        region=body.get("region", DEFAULT_REGION))}


def _control_register_container(body: dict) -> dict:
    behaviour = body["behaviour"]
    if behaviour is not None and not isinstance(behaviour, dict):
        raise ValueError("behaviour must be a declarative dict (or null to remove it)")
    register_container(body["key"], behaviour)
    return {"status": "ok"}


def _control_invocations(body: dict) -> dict:
    return {"invocations": [_encode_entry(e) for e in invocations(
        body["endpoint_name"], account_id=body.get("account_id", DEFAULT_ACCOUNT_ID),
        region=body.get("region", DEFAULT_REGION))]}


# --------------------------------------------------------------------------- install


_NEW_ACTIONS = {
    "update_endpoint": h_update_endpoint,
    "create_inference_experiment": h_create_inference_experiment,
    "describe_inference_experiment": h_describe_inference_experiment,
    "start_inference_experiment": h_start_inference_experiment,
    "stop_inference_experiment": h_stop_inference_experiment,
    "list_inference_experiments": h_list_inference_experiments,
    "stop_transform_job": h_stop_transform_job,
    "create_inference_component": h_create_inference_component,
    "describe_inference_component": h_describe_inference_component,
    "list_inference_components": h_list_inference_components,
    "update_inference_component": h_update_inference_component,
    "update_inference_component_runtime_config": h_update_inference_component_runtime_config,
    "delete_inference_component": h_delete_inference_component,
}
_WRAPPED_ACTIONS = {
    "create_model": h_create_model,
    "create_endpoint_config": h_create_endpoint_config,
    "describe_endpoint_config": h_describe_endpoint_config,
    "create_endpoint": h_create_endpoint,
    "describe_endpoint": wrap_describe_endpoint(h_describe_endpoint),
    "delete_endpoint": wrap_delete_endpoint(h_delete_endpoint),
    "update_endpoint_weights_and_capacities": h_update_endpoint_weights_and_capacities,
    "add_tags": h_add_tags,
    "create_transform_job": h_create_transform_job,
    "describe_transform_job": h_describe_transform_job,
}


_install_count = 0
_undo: list[Callable[[], None]] = []


def install() -> None:
    """Patch moto (reference-counted: each install() is balanced by one uninstall()).

    Call before mock_aws() or before starting a moto server in this process.
    """
    global _install_count
    with _LOCK:
        _install_count += 1
        if _install_count > 1:
            return
        from moto.core.base_backend import BackendDict
        from moto.moto_api._internal import urls as moto_api_urls
        from moto.sagemaker.models import FakeEndpointConfig, SageMakerModelBackend
        from moto.sagemaker.responses import SageMakerResponse
        from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

        def patch(owner: Any, name: str, value: Any) -> None:
            missing = object()
            before = owner.__dict__.get(name, missing)
            setattr(owner, name, value)
            if before is missing:
                _undo.append(lambda: delattr(owner, name))
            else:
                _undo.append(lambda: setattr(owner, name, before))

        for name, handler in _WRAPPED_ACTIONS.items():
            _ORIGINAL[name] = getattr(SageMakerResponse, name)
            patch(SageMakerResponse, name, handler)
        for name, handler in _NEW_ACTIONS.items():
            patch(SageMakerResponse, name, handler)
        patch(FakeEndpointConfig, "validate_instance_type", _validate_instance_type)
        # InvokeEndpoint (module `invocations`); raw bodies, so that a binary payload reaches
        # the handler as bytes (moto would decode it as UTF-8 and fail on anything else).
        patch(SageMakerRuntimeResponse, "invoke_endpoint", h_invoke_endpoint)
        patch(SageMakerRuntimeResponse, "use_raw_body", True)
        patch(SageMakerModelBackend, "_get_resource_from_arn",
              _wrap_get_resource_from_arn(SageMakerModelBackend._get_resource_from_arn))
        # Inference components (modules components, component_handlers): tags on their ARNs,
        # and endpoint config variants without ModelName.
        patch(SageMakerModelBackend, "_get_resource_from_arn",
              wrap_get_resource_from_arn(SageMakerModelBackend._get_resource_from_arn))
        patch(SageMakerModelBackend, "validate_production_variants",
              wrap_validate_production_variants(SageMakerModelBackend.validate_production_variants))

        original_reset = BackendDict.reset.__func__

        def reset(cls: Any) -> None:
            original_reset(cls)
            _reset_settings()
            _reset_containers()

        patch(BackendDict, "reset", classmethod(reset))

        from tests.support import aas_cloudwatch_emulator

        aas_cloudwatch_emulator.install(patch)
        _undo.append(aas_cloudwatch_emulator.uninstall)

        for suffix, fn in (
            ("force-outcome", _control_force),
            ("configure", _control_configure),
            ("phase", _control_phase),
            ("register-container", _control_register_container),
            ("invocations", _control_invocations),
        ):
            key = "{0}" + f"{CONTROL_PREFIX}/{suffix}"
            moto_api_urls.url_paths[key] = _control_response(fn)
            _undo.append(lambda key=key: moto_api_urls.url_paths.pop(key, None))


def uninstall() -> None:
    """Undo one install(); moto is restored when the last one is undone."""
    global _install_count
    with _LOCK:
        if _install_count == 0:
            return
        _install_count -= 1
        if _install_count:
            return
        while _undo:
            _undo.pop()()
        _ORIGINAL.clear()
        _reset_settings()
        _reset_containers()


def is_installed() -> bool:
    """Whether moto is currently patched."""
    return _install_count > 0


# --------------------------------------------------------------------------- server helpers


def start_moto_server(port: int = 0, host: str = "127.0.0.1") -> tuple[str, Callable[[], None]]:
    """Install the emulator and start moto's ThreadedMotoServer; returns (url, stop).

    `stop()` shuts the server down and undoes this call's install().
    """
    import logging

    from moto.server import ThreadedMotoServer

    install()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    try:
        server.start()
    except BaseException:
        uninstall()
        raise
    bound_host, bound_port = server.get_host_and_port()

    def stop() -> None:
        try:
            server.stop()
        finally:
            uninstall()

    return f"http://{bound_host}:{bound_port}", stop


def _post(url: str, path: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(
        url.rstrip("/") + path,
        data=json.dumps(body or {}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read().decode() or "{}"
    return json.loads(text)


def reset(url: str) -> None:
    """Reset a moto server (all services, emulator state and settings)."""
    _post(url, "/moto-api/reset")


def force_outcome_remote(url: str, endpoint_name: str, outcome: str, *, reason: str | None = None,
                         at_phase: str | None = None, account_id: str = DEFAULT_ACCOUNT_ID,
                         region: str = DEFAULT_REGION) -> None:
    """`force_outcome` on a moto server started with the emulator installed."""
    body = {"endpoint_name": endpoint_name, "outcome": outcome, "account_id": account_id,
            "region": region}
    if reason is not None:
        body["reason"] = reason
    if at_phase is not None:
        body["at_phase"] = at_phase
    _post(url, f"{CONTROL_PREFIX}/force-outcome", body)


def configure_remote(url: str, **changes: Any) -> dict:
    """`configure` on a moto server started with the emulator installed."""
    return _post(url, f"{CONTROL_PREFIX}/configure", changes)


def current_phase_remote(url: str, endpoint_name: str, *, account_id: str = DEFAULT_ACCOUNT_ID,
                         region: str = DEFAULT_REGION) -> str | None:
    """`current_phase` on a moto server started with the emulator installed."""
    return _post(url, f"{CONTROL_PREFIX}/phase", {"endpoint_name": endpoint_name,
                                                  "account_id": account_id,
                                                  "region": region})["phase"]


def register_container_remote(url: str, key: str, behaviour: dict | None) -> None:
    """`register_container` with a declarative behaviour on a moto server started with the
    emulator installed (None removes the registration)."""
    _post(url, f"{CONTROL_PREFIX}/register-container", {"key": key, "behaviour": behaviour})


def invocations_remote(url: str, endpoint_name: str, *, account_id: str = DEFAULT_ACCOUNT_ID,
                       region: str = DEFAULT_REGION) -> list[dict]:
    """`invocations` on a moto server started with the emulator installed (bodies as bytes)."""
    answer = _post(url, f"{CONTROL_PREFIX}/invocations", {
        "endpoint_name": endpoint_name, "account_id": account_id, "region": region})
    return [_decode_entry(e) for e in answer["invocations"]]


def client(service: str, url: str | None = None, region: str = DEFAULT_REGION) -> Any:
    """A boto3 client for moto: dummy credentials, no retries, endpoint `url` if given."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        service,
        region_name=region,
        endpoint_url=url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )

"""Transform jobs: CreateTransformJob refusals (botocore), InProgress/Stopping ticks.

SageMakerResponse handlers for CreateTransformJob, DescribeTransformJob and StopTransformJob.
"""

from __future__ import annotations

import time
from typing import Any

from .common import (
    _LOCK,
    TRANSFORM_SECONDS,
    _arn,
    _not_found,
    _now,
    _settings,
    transform_instance_types,
    validate_tags,
    _validation,
)
from .responses import _empty_result, _original
from .state import _TransformRuntime, _should_advance, _state


def _validate_transform_job(self: Any) -> None:
    """CreateTransformJob rules from botocore's service model (sagemaker 2017-07-24)."""
    resources = self._get_param("TransformResources") or {}
    instance_type = resources.get("InstanceType")
    # TransformResources.InstanceType: shape TransformInstanceType (an enum).
    if instance_type not in transform_instance_types():
        raise _validation(
            f"1 validation error detected: Value '{instance_type}' at "
            "'transformResources.instanceType' failed to satisfy constraint: Member must "
            f"satisfy enum value set: [{', '.join(transform_instance_types())}]")
    # TransformResources.InstanceCount: "The default value is 1, and the maximum is 100"
    # (shape TransformInstanceCount, min 1).
    count = resources.get("InstanceCount")
    if count is not None and not 1 <= int(count) <= 100:
        raise _validation(
            f"1 validation error detected: Value '{count}' at 'transformResources.instanceCount' "
            "failed to satisfy constraint: Member must have value between 1 and 100")
    # MaxPayloadInMB: "The value of MaxPayloadInMB cannot be greater than 100 MB. If you specify
    # the MaxConcurrentTransforms parameter, the value of (MaxConcurrentTransforms *
    # MaxPayloadInMB) also cannot exceed 100 MB." (default payload 6 MB)
    payload = self._get_param("MaxPayloadInMB")
    concurrent = self._get_param("MaxConcurrentTransforms")
    if payload is not None and int(payload) > 100:
        raise _validation(f"MaxPayloadInMB {payload} is invalid: it cannot be greater than 100 MB.")
    effective = 6 if payload is None else int(payload)
    if concurrent is not None and int(concurrent) * effective > 100:
        raise _validation(
            f"MaxConcurrentTransforms ({concurrent}) x MaxPayloadInMB ({effective}) = "
            f"{int(concurrent) * effective} MB exceeds 100 MB.")
    # BatchStrategy: "To enable the batch strategy, you must set the SplitType property to Line,
    # RecordIO, or TFRecord." Assumption: AWS refuses a BatchStrategy with SplitType None
    # (or left out, whose default is None) with a ValidationException.
    split = (self._get_param("TransformInput") or {}).get("SplitType") or "None"
    strategy = self._get_param("BatchStrategy")
    if strategy and split == "None":
        raise _validation(
            f"BatchStrategy {strategy} needs TransformInput.SplitType Line, RecordIO or "
            "TFRecord (SplitType is None).")
    # DataProcessing.JoinSource Input: botocore documents how the join works for JSON and CSV,
    # not a refusal, so nothing is refused here.


def h_create_transform_job(self: Any) -> Any:
    backend = self.sagemaker_backend
    with _LOCK:
        validate_tags(self._get_param("Tags"))
        _validate_transform_job(self)
        result = _original(self, "create_transform_job")
        ticks = int(_settings["transform_ticks"])
        if ticks > 0:
            name = self._get_param("TransformJobName")
            job = backend.transform_jobs[name]
            job.transform_job_status = "InProgress"
            job.transform_end_time = None
            _state(backend).transforms[name] = _TransformRuntime(ticks_left=ticks)
        return result


def h_describe_transform_job(self: Any) -> Any:
    backend = self.sagemaker_backend
    name = self._get_param("TransformJobName")
    with _LOCK:
        job = backend.transform_jobs.get(name)
        rt = _state(backend).transforms.get(name)
        if job is not None and rt is not None:
            if job.transform_job_status in ("InProgress", "Stopping") and _should_advance(
                rt.seen, rt.phase_started, TRANSFORM_SECONDS
            ):
                if job.transform_job_status == "Stopping":
                    job.transform_job_status = "Stopped"
                else:
                    rt.ticks_left -= 1
                    if rt.ticks_left <= 0:
                        job.transform_job_status = "Completed"
                if job.transform_job_status in ("Completed", "Stopped"):
                    job.transform_end_time = _now()
                job.last_modified_time = _now()
                rt.seen = False
                rt.phase_started = time.monotonic()
            rt.seen = True
        return _original(self, "describe_transform_job")


def h_stop_transform_job(self: Any) -> Any:
    backend = self.sagemaker_backend
    name = self._get_param("TransformJobName")
    with _LOCK:
        job = backend.transform_jobs.get(name)
        if job is None:
            raise _not_found(
                f"Could not find transform job '{_arn(backend, 'transform-job', name)}'."
            )
        if job.transform_job_status == "Stopping":
            return _empty_result()
        if job.transform_job_status != "InProgress":
            raise _validation(
                f"The transform job '{name}' cannot be stopped: its status is "
                f"{job.transform_job_status}."
            )
        job.transform_job_status = "Stopping"
        job.last_modified_time = _now()
        rt = _state(backend).transforms.setdefault(name, _TransformRuntime(ticks_left=0))
        rt.seen = False
        rt.phase_started = time.monotonic()
        return _empty_result()

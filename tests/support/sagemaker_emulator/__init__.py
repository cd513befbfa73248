"""SageMaker deployment behaviour that moto 5.2 lacks, added to moto for the project's tests.

Written against AWS's documented behaviour (botocore's service model and the SageMaker
developer guide: deployment guardrails, shadow tests, real-time inference), not against what
the bot sends.
`install()` patches moto's `SageMakerResponse` and `SageMakerRuntimeResponse` (moto looks
handlers up on the class when a call arrives) and a few model classes; it works in process
(`mock_aws`) and in server mode (`ThreadedMotoServer` in this process, or
`python -m tests.support.moto_server --port N`).

What it adds or fixes
---------------------
Each rule's code comment names the AWS page or botocore field it follows; behaviour AWS does
not document is marked "Assumption:" there, with the reason. "Guide" below is the SageMaker
Developer Guide.

- UpdateEndpoint with DeploymentConfig (blue/green ALL_AT_ONCE | CANARY | LINEAR, rolling),
  RetainAllVariantProperties / ExcludeRetainedVariantProperties (the new fleet keeps the
  latest DesiredInstanceCount / weight; without it, the new config's InitialInstanceCount),
  RetainDeploymentConfig, AutoRollbackConfiguration driven by moto's CloudWatch alarm states
  (same account/region; composite alarms evaluated from their rule; an alarm that does not
  exist never trips - assumption, Guide "Auto-Rollback Configuration and Monitoring").
- UpdateEndpoint refusals (ValidationException): any DeploymentConfig when the current or the
  new config is serverless (Guide "Deployment guardrails": guardrails "only apply to
  Asynchronous inference and Real-time inference endpoint types"); instance-based -> serverless
  (Guide "Serverless Inference"; serverless -> instance-based is allowed); changing the instance
  type of, or removing, a variant registered with Application Auto Scaling (Guide "Update
  endpoints that use auto scaling"; a model change is allowed); an endpoint that is Creating,
  Updating, SystemUpdating, RollingBack or Deleting ("Cannot update in-progress endpoint").
  Adding/removing AsyncInferenceConfig is NOT refused (AWS documents no such refusal).
- Guardrail fallbacks (Guide "Exclusions"): Inf1 instances, Marketplace containers (assumption:
  a ModelPackageName of another account), and rolling updates of multi-variant endpoints run
  as blue/green all at once with no canary, no final bake and no alarm monitoring, silently.
- MaximumExecutionTimeoutInSeconds 600-28800 (botocore) for both policies; a deployment whose
  bakes (WaitIntervalInSeconds / TerminationWaitInSeconds) reach the timeout rolls back
  (assumption: only the documented waits count; see `_execution_timeout`).
- DeleteEndpoint: Deleting for `delete_ticks` describe calls, then gone; refused while the
  endpoint is Creating/Updating/SystemUpdating/RollingBack/Deleting (assumption); deregisters
  the endpoint's scalable targets and their policies (Guide "Delete endpoints configured for
  auto scaling"). DeleteEndpointConfig of a config in use stays allowed (UpdateEndpoint API:
  you "must not", and "may lose visibility" - advice, not a refusal).
- CreateEndpointConfig with a serverless variant refuses the Serverless Inference "Feature
  exclusions": several production variants, shadow variants, DataCaptureConfig, VpcConfig,
  network isolation, Multi-Model containers, inference pipelines, Marketplace packages and
  private registries (ImageConfig Vpc) on the variant's model. CreateModel keeps
  EnableNetworkIsolation (moto dropped it).
- Application Auto Scaling and CloudWatch (tests/support/aas_cloudwatch_emulator.py, installed
  with this module): PutCompositeAlarm, DescribeAlarms AlarmTypes, RegisterScalableTarget
  checks (variant exists, 1 <= Min <= Max, 0 allowed for asynchronous endpoints) and capacity
  clamping, DeregisterScalableTarget deletes the target's policies.
- DescribeEndpoint: PendingDeploymentSummary, LastDeploymentConfig, VariantStatus,
  ShadowProductionVariants, AsyncInferenceConfig, DataCaptureConfig (summary shape),
  DeployedImages, FailureReason.
- CreateEndpoint: `Creating` for `create_ticks` describe calls (AWS does not create instantly).
- UpdateEndpointWeightsAndCapacities: leaving out DesiredWeight/DesiredInstanceCount keeps the
  current value; endpoint must be InService; `Updating` for one tick with Desired != Current.
- CreateEndpointConfig keeps ShadowProductionVariants (one production + one shadow at most),
  ExecutionRoleArn, VpcConfig, EnableNetworkIsolation, ExplainerConfig; DescribeEndpointConfig
  echoes them and drops moto's empty DataCaptureConfig. Instance types are checked against
  botocore's ProductionVariantInstanceType enum instead of moto's old list.
- Inference experiments (ShadowMode): Create/Describe/Start/Stop/List.
- Duplicate CreateModel / CreateEndpointConfig / CreateEndpoint names: ValidationException
  ("Cannot create already existing ...") instead of moto's silent overwrite.
- Tags on CreateModel/CreateEndpointConfig/CreateEndpoint/CreateTransformJob/
  CreateInferenceExperiment/AddTags: at most 50, key 1-128, value 0-256, pattern
  [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*, `aws:` prefix reserved. AddTags overwrites existing keys.
- SageMaker Runtime InvokeEndpoint (moto ignored TargetVariant/TargetModel and answered any
  name with canned results; module `invocations` has every rule with its source): Body at most
  6291456 bytes (botocore BodyBlob max; Guide Hosting FAQ "up to 6 MB"), 4 MB on serverless
  variants (Guide "Invoke a serverless endpoint"); "Endpoint <name> of account <account> not
  found." (ValidationError, as AWS words it); Creating (CreateEndpoint: requests are processed
  once InService), OutOfService (EndpointStatus: "not available to take incoming requests"),
  Failed ("DeleteEndpoint is the only operation") and Deleting (assumption) are refused;
  traffic goes to the fleets DescribeEndpoint shows serving, at their CurrentWeight (old w*(1-f),
  new w*f during an update; current weights during UpdateEndpointWeightsAndCapacities);
  TargetVariant must name a production variant (botocore: "Specify the production variant to
  send the inference request to"; shadow or unknown names refused) and ignores weights, so a
  weight-0 variant can be targeted; without it a smooth weighted round robin (deterministic,
  weight 0 never chosen); shadow variants get a copy (Guide, shadow tests; share = shadow weight
  / production weight, i.e. SamplingPercentage for experiments) and their answers are dropped;
  TargetModel only on a Mode MultiModel container (botocore TargetModel; Guide "Invoke a
  Multi-Model Endpoint"), required there (assumption); the container's answer comes from
  `register_container` (non-2xx: ModelError, HTTP 424, OriginalStatusCode, OriginalMessage,
  LogStreamArn - botocore ModelError); InvokedProductionVariant is the variant routed to; with
  no container registered for the model, moto's canned results answer after the same refusals.
- Inference components (modules `components`, `component_handlers`, `component_scaling`;
  each rule's source is there): CreateEndpointConfig accepts ProductionVariants without
  ModelName (botocore: not a required member) and DescribeEndpointConfig echoes
  ManagedInstanceScaling, RoutingConfig and ExecutionRoleArn (no refusal of mixed configs or of a
  missing ExecutionRoleArn: AWS documents none). Create/Describe/List/Update/
  UpdateRuntimeConfig/DeleteInferenceComponent: botocore names (63, pattern), ranges (cpu >=
  0.25, accelerators >= 1, memory >= 128, startup timeouts 60-3600, CopyCount >= 0, WaitInterval
  0-3600, MaximumExecutionTimeout 600-28800, MaximumBatchSize 5-50% of the copies), tags as
  above, unknown endpoint / variant / model, duplicate names; assumptions: a variant with a
  ModelName refuses components, the endpoint must be InService, updates only when InService.
  Creating for `create_ticks` describes, Deleting for `delete_ticks`, Updating one tick per
  rolling batch. Capacity accounting per instance from INSTANCE_CAPACITY
  (bot/core/manifest/aws_limits.py): a copy fits whole on one instance; ManagedInstanceScaling
  ENABLED adds instances up to MaxInstanceCount and releases idle ones down to MinInstanceCount
  (DescribeEndpoint CurrentInstanceCount shows them); copies that do not fit: Failed on create,
  CurrentCopyCount < DesiredCopyCount on a scale-out, rollback on a rolling update (all
  assumptions); types not in the table are not accounted. Rolling updates place each batch
  beside the old copies, roll back on an AutoRollbackConfiguration alarm in ALARM (InService on
  the previous specification with FailureReason - assumption). DeleteEndpoint of an endpoint
  hosting components is refused (Guide "Delete inference components first"; assumption that the
  API refuses). InvokeEndpoint InferenceComponentName routes to the component's model (refusals:
  header on a model endpoint, missing on a component endpoint, unknown, not InService/Updating,
  CurrentCopyCount 0). Application Auto Scaling: sagemaker:inference-component:DesiredCopyCount
  added to moto's dimensions, RegisterScalableTarget (component exists, 0 <= Min <= Max,
  clamping), PutScalingPolicy target tracking on the SageMakerInferenceComponent* metrics;
  DeleteInferenceComponent deregisters its target (assumption).
- Transform jobs: InProgress for `transform_ticks` describe calls, then Completed;
  StopTransformJob: Stopping, then (next describe) Stopped. CreateTransformJob refuses an
  instance type outside botocore's TransformInstanceType enum, InstanceCount outside 1-100,
  MaxPayloadInMB > 100, MaxConcurrentTransforms x MaxPayloadInMB > 100 (default payload 6 MB),
  and a BatchStrategy with SplitType None (botocore: "you must set the SplitType"; the refusal
  is an assumption). DataProcessing.JoinSource has no documented refusal and is not checked.

Ticks
-----
Progress is driven by Describe* calls, not wall time, so tests are deterministic: every
DescribeEndpoint shows the current phase and, if that phase was already shown by an earlier
describe, first moves one phase on. So the first describe after UpdateEndpoint shows the first
phase. Alarms (AutoRollbackConfiguration) are read on every describe while the phase is
monitored (traffic on the new fleet: ActivatingTraffic and Baking); if one is in ALARM the
describe already shows RollingBack. `configure(mode="clock", time_scale=s)` instead moves on by
wall time: each phase lasts its nominal AWS seconds (bakes: WaitIntervalInSeconds, final bake:
TerminationWaitInSeconds, provisioning 300, traffic switch 30, termination/rollback 60) times
`time_scale` real seconds, still evaluated lazily on describe.

Phase sequences (one line = one describe tick; f = share of traffic on the new fleet)
------------------------------------------------------------------------------------------
During an update EndpointStatus is Updating, EndpointConfigName stays the OLD config,
`ProductionVariants` describes the old (blue) fleet and `PendingDeploymentSummary` the new
(green) one. The traffic split is shown in the weights: blue CurrentWeight = w*(1-f), green
CurrentWeight = w*f, DesiredWeight = the configured weight w on both, so
f = green CurrentWeight / DesiredWeight. CurrentInstanceCount counts provisioned instances.

  ALL_AT_ONCE (also UpdateEndpoint without DeploymentConfig, AWS's default):
    provision-green   green VariantStatus Creating           f=0   green instances 0
    shift-all         green ActivatingTraffic                f=1
    final-bake x B    green Baking (TerminationWaitInSeconds) f=1  [only with BlueGreenUpdatePolicy]
    terminate-blue    blue VariantStatus Deleting            f=1   blue DesiredInstanceCount 0
    -> InService on the new config, LastDeploymentConfig set, no PendingDeploymentSummary
  CANARY (c = canary share of the new fleet):
    provision-green   Creating          f=0
    canary-shift      ActivatingTraffic f=c
    canary-bake x B   Baking            f=c   (WaitIntervalInSeconds)
    full-shift        ActivatingTraffic f=1
    final-bake x B    Baking            f=1   (TerminationWaitInSeconds)
    terminate-blue    blue Deleting     f=1
    -> InService on the new config
  LINEAR (step s, n = ceil(1/s) steps):
    provision-green                     f=0
    linear-step-k, linear-bake-k x B    f=k*s   for k = 1 .. n-1
    linear-step-n     ActivatingTraffic f=1
    final-bake x B    Baking            f=1
    terminate-blue    blue Deleting     f=1
    -> InService on the new config
  ROLLING (batch b instances of N; old instances are replaced batch by batch):
    rolling-batch-k-provision  green Creating, green instances k*b, f=(k-1)*b/N
    rolling-batch-k-shift      ActivatingTraffic, f=k*b/N, blue instances N-k*b
    rolling-batch-k-bake x B   Baking (WaitIntervalInSeconds)
    -> InService on the new config
  Rollback (alarm in ALARM during a monitored phase, or forced):
    rollback          EndpointStatus RollingBack, f=0, green VariantStatus Deleting
    -> InService on the OLD EndpointConfigName with FailureReason (the endpoint_in_service
       waiter succeeds: compare EndpointConfigName), or UpdateRollbackFailed if forced.
  CreateEndpoint: `create` x create_ticks (EndpointStatus Creating, PendingDeploymentSummary
    only, no ProductionVariants yet) -> InService.
  DeleteEndpoint: `delete` x delete_ticks (EndpointStatus Deleting) -> "Could not find endpoint".
  Fallback (Inf1, Marketplace, rolling on several variants): provision-green, shift-all,
    terminate-blue, whatever DeploymentConfig asked for.
  Timeout: the bake in which the waits reach MaximumExecutionTimeoutInSeconds is shown, then
    rollback (in clock mode once the rest of the timeout has passed).
  UpdateEndpointWeightsAndCapacities: `apply-weights` (Updating, Desired != Current,
    VariantStatus Updating) -> InService with Current = Desired.
  B = `bake_ticks` (default 1).

Inference experiments advance on DescribeInferenceExperiment the same way:
  Creating -> Created -> (start requested, or Schedule.StartTime reached; no Schedule means
  "start now", as documented) Starting [endpoint Updating] -> Running [endpoint InService with
  the shadow variant in ShadowProductionVariants] ... StopInferenceExperiment -> Stopping
  [endpoint Updating] -> Completed | Cancelled [ModelVariantActions applied].
  Promote on the shadow variant: the endpoint moves to a generated endpoint config
  "<endpoint>-promoted-<n>" whose single production variant is the shadow's model (named as
  the shadow variant); the source variant leaves production whatever its action. Retain on the
  shadow keeps it as the endpoint's shadow; Remove deletes it.

Test control
------------
In process: `force_outcome(endpoint, "Failed" | "UpdateRollbackFailed" | "RolledBack",
reason=None, at_phase=None)` arms an outcome for the running (or next) deployment of that
endpoint, applied on the next describe tick (or when the deployment reaches the phase whose
label or variant stage equals `at_phase`, e.g. "Baking" or "canary-bake"). `configure(...)`,
`settings()`, `current_phase(endpoint)` (no tick).
Server mode: POST JSON to `<url>/moto-api/sagemaker-emulator/force-outcome`
({"endpoint_name", "outcome", "reason"?, "at_phase"?, "account_id"?, "region"?}),
`/configure` ({setting: value}) and `/phase` ({"endpoint_name"}); the helpers
`force_outcome_remote`, `configure_remote`, `current_phase_remote` do that.

InvokeEndpoint: `register_container(key, behaviour)` says what the model code answers: `key` a
ModelDataUrl (multi-model: the prefix, or prefix + TargetModel) or a model name; `behaviour` a
function `fn(body, content_type, accept, target_model) -> (status, body, content_type)` or a
declarative dict: {"kind": "constant", "body"}, {"kind": "echo"}, {"kind": "error", "status",
"message"}, {"kind": "csv_rows", "value"}, {"kind": "by_target_model", "models", "default"?}.
`invocations(endpoint_name)` lists what the containers received ({"variant", "target_model",
"content_type", "accept", "body", "shadow_copy", "endpoint_config", "model", "status"}).
Server mode: `/register-container` ({"key", "behaviour": dict | null}) and `/invocations`
({"endpoint_name"} -> bodies base64), helpers `register_container_remote`,
`invocations_remote` (bodies back to bytes).
Any moto reset (/moto-api/reset, a new mock_aws) clears emulator state and settings, the
invocation log and the registered containers.

Installing
----------
`install()` / `uninstall()` are reference-counted and restore moto when the last install is
undone, so tests elsewhere in the same pytest process see plain moto. Pytest helpers:
`start_moto_server() -> (url, stop)` (installs; `stop()` uninstalls), `reset(url)`,
`client(service, url)` (dummy credentials, max_attempts 1).

Modules
-------
`common` (defaults, timings, settings, the lock, errors, tag and instance-type checks), `state`
(the fleet, deployments and runtimes kept beside moto's backends), `phases` (deployment phase
sequences), `refusals` (what UpdateEndpoint / CreateEndpointConfig refuse, guardrail
fallbacks), `lifecycle` (advancing and rendering endpoints), `endpoints`, `transform`,
`experiments` and `experiment_lifecycle` (the handlers), `components` (inference component
state, capacity accounting, ticks), `component_handlers` (their handlers and the endpoint /
InvokeEndpoint hooks), `component_scaling` (their Application Auto Scaling), `invocations` (SageMaker Runtime
InvokeEndpoint: routing, refusals, container behaviours, the invocation log), `responses`
(handler helpers), `control` (test control, install/uninstall, the moto server helpers).
"""

from __future__ import annotations

from .common import (
    ACTIVATE_SECONDS,
    CONTROL_PREFIX,
    DEFAULT_ACCOUNT_ID,
    DEFAULT_REGION,
    DELETE_SECONDS,
    EXPERIMENT_STEP_SECONDS,
    FORCEABLE_OUTCOMES,
    PROVISION_SECONDS,
    ROLLBACK_SECONDS,
    TRANSFORM_SECONDS,
    UPDATE_SECONDS,
    configure,
    production_variant_instance_types,
    settings,
    transform_instance_types,
    validate_tags,
)
from .control import (
    client,
    configure_remote,
    current_phase,
    current_phase_remote,
    force_outcome,
    force_outcome_remote,
    install,
    invocations_remote,
    is_installed,
    register_container_remote,
    reset,
    start_moto_server,
    uninstall,
)
from .endpoints import clamp_variant_capacity
from .invocations import (
    BEHAVIOUR_KINDS,
    REALTIME_MAX_BODY,
    SERVERLESS_MAX_BODY,
    container_behaviour,
    invocations,
    register_container,
    registered_containers,
)
from .refusals import GUARDRAILS_SERVERLESS_MESSAGE

__all__ = [
    "ACTIVATE_SECONDS", "BEHAVIOUR_KINDS", "CONTROL_PREFIX", "DEFAULT_ACCOUNT_ID", "DEFAULT_REGION",
    "DELETE_SECONDS", "EXPERIMENT_STEP_SECONDS", "FORCEABLE_OUTCOMES", "GUARDRAILS_SERVERLESS_MESSAGE",
    "PROVISION_SECONDS", "REALTIME_MAX_BODY", "ROLLBACK_SECONDS", "SERVERLESS_MAX_BODY",
    "TRANSFORM_SECONDS", "UPDATE_SECONDS", "clamp_variant_capacity", "client", "configure", "configure_remote",
    "container_behaviour", "current_phase", "current_phase_remote", "force_outcome",
    "force_outcome_remote", "install", "invocations", "invocations_remote", "is_installed",
    "production_variant_instance_types", "register_container", "register_container_remote",
    "registered_containers", "reset", "settings", "start_moto_server", "transform_instance_types",
    "uninstall", "validate_tags",
]

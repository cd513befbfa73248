"""The processes and the features that wire the core to the adapters.

- processes: `web` (intake under gunicorn), `worker` (huey), `cli` (`modelbot ...`), `demo`.
- `router` and `features/`: one small router per feature, composed at the top.
- services the features share: `comparison` (the pre-merge comparison), `rollouts`.
"""

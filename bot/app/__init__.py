"""The processes and the features that wire the core to the adapters.

- processes: `web` (intake under gunicorn), `worker` (huey), `cli` (`modelbot ...`), `demo`.
- `router` and `features/`: one small router per feature, composed at the top.
- `services/`: what several features share (approvals, gate, comparison, rollouts); no feature.
"""

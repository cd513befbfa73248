"""Adapters: the thin code that talks to the outside and maps it to the core's values.

- `github`: the GitHub App (PyGithub): tokens, pull requests, comments, check runs, protection.
- `aws`: sessions, the live reader, the deploy executor and teardown, batch-transform scoring.
- `store`, `migrate`, `migrations`, `cache`: the database (SQLAlchemy; SQLite or PostgreSQL).
- `queue`: the job queue (huey; SQLite or Redis).
- `sources`: evaluation sets and predictions from the repository, S3 or the archive.
- `scoring`: the kernel-enforced sandbox that runs a model on the evaluation set.
- `worktree`: the checked-out repository for `modelbot check`.
"""

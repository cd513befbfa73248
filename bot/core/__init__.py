"""The pure core: every rule modelbot applies, as values in and values out.

Manifests, policy, the deploy plan, the review, approvals, CODEOWNERS, commands and
permissions, the deploy gate, comparison statistics and gates, the deploy requests and the
rollout controller, and the texts built from them. Nothing here talks to GitHub, AWS, a database
or a queue, and nothing imports boto3, botocore's clients, PyGithub, SQLAlchemy, huey or Flask
(`tests/test_architecture.py` holds it). Files are read only from a path given or shipped with
the package: the server config, the templates, the manifest schema, botocore's bundled service
model, and a local table handed to `compare.load_table`.
"""

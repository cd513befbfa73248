"""The one GitHub adapter (PyGithub): App auth, installation tokens, safe retries, idempotent writes.

Kept off the web path: only the worker imports it.
"""

from bot.adapters.github.app import GitHubApp, SafeRetry, find_marked_comment, upsert_marked_comment

__all__ = ["GitHubApp", "SafeRetry", "find_marked_comment", "upsert_marked_comment"]

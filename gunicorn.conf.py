# gunicorn reads this file by default; the settings live in the package so `modelbot serve`
# and a plain `gunicorn bot.app.wsgi:app` behave the same.
from bot.app.gunicorn_conf import *  # noqa: F401,F403
from bot.app.gunicorn_conf import child_exit, on_exit, on_starting  # noqa: F401

# modelbot: one image for every process. The default command is the Procfile's `web`
# (gunicorn with gunicorn.conf.py, i.e. bot/app/gunicorn_conf.py); run the worker with
# `docker run IMAGE modelbot worker`. docs/production.md has the compose recipe.
#
# Extras: `compare` (XGBoost, ONNX Runtime, pyarrow: the local scoring and Parquet validation
# sets the README promises) and `sagemaker` (SageMaker's framework image tables, for framework
# sources). A slimmer image without them: `docker build --build-arg EXTRAS=compare .` (or any
# subset); the default is the image the README describes.
#
# Reproducible: the base image is pinned by tag (pin it by digest too with
# `--build-arg PYTHON_IMAGE=python:3.11.13-slim-bookworm@sha256:...`), pip keeps no cache.
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG EXTRAS=compare,sagemaker
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN pip install --no-cache-dir --prefix=/install ".[${EXTRAS}]"

FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PORT=8000 MODELBOT_DATA_DIR=/var/lib/modelbot \
    MODELBOT_CONFIG=/app/config/modelbot.yaml
# Non-root: the bot and its scoring processes run as uid 10001. The Python installation
# (/usr/local) stays owned by root, so neither can change the code they run.
RUN useradd --system --uid 10001 --home /app modelbot \
 && mkdir -p /var/lib/modelbot && chown modelbot /var/lib/modelbot
COPY --from=build /install /usr/local
WORKDIR /app
COPY gunicorn.conf.py ./
COPY config ./config
USER modelbot
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
  CMD python -c "import os,urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT','8000'), timeout=2); sys.exit(0)"
CMD ["gunicorn", "-c", "gunicorn.conf.py", "bot.app.wsgi:app"]

# modelbot: web (gunicorn) by default; run the worker with `modelbot worker`.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PORT=8000 MODELBOT_DATA_DIR=/var/lib/modelbot \
    MODELBOT_CONFIG=/app/config/modelbot.yaml
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
ENTRYPOINT ["gunicorn", "-c", "gunicorn.conf.py"]
CMD ["bot.wsgi:app"]

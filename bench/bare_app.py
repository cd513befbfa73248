"""The baseline for bench_intake.py: Flask under the same gunicorn settings, doing nothing.

POST /webhook reads the whole body and answers 204; GET /healthz answers 200. Whatever the bot
costs beyond this is the intake's own work (HMAC, JSON, store, queue, logging, metrics).
"""

from __future__ import annotations

from flask import Flask, Response, jsonify, request

app = Flask("bare")


@app.post("/webhook")
def webhook() -> Response:
    request.get_data(cache=False)
    return Response(status=204)


@app.get("/healthz")
def healthz():
    return jsonify(status="ok")

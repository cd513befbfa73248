"""`python -m tests.support.moto_server` starts moto with the emulator installed."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.support import sagemaker_emulator as emulator

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_subprocess_server_has_the_emulator():
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.moto_server", "--host", "127.0.0.1",
         "--port", str(port)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"{url}/moto-api/data.json", timeout=1)
                break
            except OSError:
                assert proc.poll() is None, "moto_server exited"
                assert time.monotonic() < deadline, "moto_server did not start"
                time.sleep(0.1)
        sm = emulator.client("sagemaker", url)
        sm.create_model(ModelName="m1", ExecutionRoleArn="arn:aws:iam::123456789012:role/r",
                        PrimaryContainer={"Image": "image:1"})
        sm.create_endpoint_config(EndpointConfigName="c1", ProductionVariants=[{
            "VariantName": "main", "ModelName": "m1", "InstanceType": "ml.m5.large",
            "InitialInstanceCount": 1}])
        sm.create_endpoint(EndpointName="ep", EndpointConfigName="c1")
        sm.get_waiter("endpoint_in_service").wait(EndpointName="ep",
                                                   WaiterConfig={"Delay": 0, "MaxAttempts": 5})
        sm.update_endpoint(EndpointName="ep", EndpointConfigName="c1")
        assert emulator.current_phase_remote(url, "ep") == "provision-green"
        emulator.force_outcome_remote(url, "ep", "Failed")
        assert sm.describe_endpoint(EndpointName="ep")["EndpointStatus"] == "Failed"
    finally:
        proc.terminate()
        proc.wait(timeout=10)

"""The ssmsend container of the publisher pod: run a stock ``ssmsend`` every 10 minutes.

Runs on the apel-ssm image's own Python (``/usr/bin/python3``), so the container needs no shell.
``ssmsend`` sends what the publisher wrote into the SSM outgoing queue and exits; a failed run is
reported on stderr and retried at the next interval (the queue keeps every message until sent).
SSMSEND_INTERVAL_SECONDS and SSMSEND_CONFIG override the interval and the sender.cfg path.
"""

import os
import subprocess
import sys
import time

INTERVAL = int(os.environ.get("SSMSEND_INTERVAL_SECONDS", "600"))
COMMAND = ["ssmsend", "--config", os.environ.get("SSMSEND_CONFIG", "/etc/apel/sender.cfg")]

while True:
    code = subprocess.call(COMMAND)
    if code != 0:
        sys.stderr.write(f"ssmsend exited with {code}; next try in {INTERVAL} s\n")
        sys.stderr.flush()
    time.sleep(INTERVAL)

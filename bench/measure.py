"""Runs a command, prints JSON with its wall time and peak resident memory.
usage: measure.py CMD [ARGS...]"""
import json
import resource
import subprocess
import sys
import time

t = time.perf_counter()
done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
secs = time.perf_counter() - t
peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"seconds": secs, "peak_mb": peak_kb / 1024, "rc": done.returncode}))

"""Print the number of items an aggregator store holds (the bench's "items stored" column)."""

import json
import subprocess
import sys

out = subprocess.run(
    [sys.executable, "-m", "aggregator", "--config", sys.argv[1], "status", "--json"],
    check=True,
    capture_output=True,
    text=True,
).stdout
print(sum(row["items"] for row in json.loads(out)))

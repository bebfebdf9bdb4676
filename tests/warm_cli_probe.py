"""A command for tests/test_warm_cli.py: reports what `python -m` gave it, then ends as told
(`exit N`, `raise`, or normally); `threads` also reports torch's thread count."""
import atexit
import os
import sys

print("argv", sys.argv[1:], "cwd", os.getcwd(), "env", os.environ.get("PROBE"))
print("main", __name__, "path0", sys.path[0])
print("to stderr", file=sys.stderr)
atexit.register(lambda: print("atexit ran"))
if sys.argv[1:2] == ["threads"]:
    import torch
    print("threads", torch.get_num_threads())
if sys.argv[1:2] == ["exit"]:
    sys.exit(int(sys.argv[2]))
if sys.argv[1:2] == ["raise"]:
    raise ValueError("probe failed")

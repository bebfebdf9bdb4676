"""The profiling script on tiny networks: a window of steps profiled, a table and a trace."""
import json

from bench.profile_paper2 import main


def test_profile_window_gives_a_table_and_a_trace(tmp_path):
    trace = tmp_path / "trace.json"
    table = main(["--smoke", "--warmup", "2", "--steps", "2", "--trace", str(trace)])
    assert "convolution" in table
    assert json.loads(trace.read_text())["traceEvents"]

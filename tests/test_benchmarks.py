"""The ImageNet-scale benchmark runs end to end at a tiny scale (a smoke test, so the script cannot rot)."""

import subprocess
import sys


def test_imagenet_scale_benchmark_runs(repo):
    command = [sys.executable, str(repo / "benchmarks" / "imagenet_scale.py"), "--scale", "0.001", "--threads", "2",
               "--workers", "2", "--epochs", "1", "--batch-size", "32", "--bare-seconds", "1"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    final = result.stdout.split("final:")[-1]
    for stage in ("input path, imagefolder", "embedding, huggingface parquet", "mini-batch k-means K=10",
                  "neural LSH training H=800", "evaluation, neural LSH J=80 L=8", "evaluation, hyperplanes H=100",
                  "exact top-50", "peak memory"):
        assert stage in final, (stage, final)

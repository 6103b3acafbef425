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


def test_the_faiss_comparison_runs_and_both_sides_find_the_same_neighbours(repo):
    command = [sys.executable, str(repo / "benchmarks" / "vs_faiss.py"), "--gallery", "3000", "--queries", "300",
               "--exact-queries", "100", "--K", "30", "--threads", "1", "--repeats", "1", "--scaling", "1500",
               "--hamming-gallery", "3000"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in result.stdout.splitlines() if line.startswith("| ") and not line.startswith("| work")}
    kmeans, exact = rows["k-means K=30, probes 1, top 50"], rows["exact, 100 queries, top 50"]
    assert exact[1] == "3000" and exact[3] == "1.0000"  # exact search scans the gallery and finds every neighbour
    try:
        import faiss  # noqa: F401 (the bench extra)
    except ImportError:
        assert kmeans[4] == "not installed"
    else:  # the same clusters on both sides: the same candidates, so the same recall
        assert kmeans[3] == kmeans[5] and exact[5] == "1.0000"
        for name in ("hyperplane H=8 L=6 (centred), top 50", "ITQ H=16 L=3, top 50",
                     "multi-probe H=16 L=3 radius 1, top 50", "neural J=8 L=4 (H=32), top 50"):
            assert rows[name][3] == rows[name][5], (name, rows[name])  # the same buckets on both sides
        for kind in ("random", "clustered"):  # Hamming ranking: FAISS's top 1000 distances are our histogram's
            assert rows[f"hamming ranking 300 x 3000, 64 bits, {kind} codes"][4] == "yes"
    assert "| k-means K=30, probes 1 | 1 |" in result.stdout  # single-query p50
    assert "peak memory at 1500" in result.stdout
    assert "| 1500 | 30 |" in result.stdout


def test_the_search_cost_benchmark_runs_and_one_bucket_is_exact_search(repo):
    command = [sys.executable, str(repo / "benchmarks" / "search_cost.py"), "--gallery", "2000", "--queries", "200",
               "--threads", "1", "--repeats", "1", "--latency-queries", "10"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=repo / "benchmarks")
    assert result.returncode == 0, result.stderr[-4000:]
    rows = [[c.strip() for c in line.split("|")[1:-1]] for line in result.stdout.splitlines()
            if line.startswith("| ") and not line.startswith("| configuration")]
    same_work = [r for r in rows if r[0] == "exact" or "uncentred" in r[0]][:2]
    assert [r[2] for r in same_work] == ["2000", "2000"]  # the one-bucket configuration scans the whole gallery
    names = {r[0] for r in rows}
    for name in ("k-means K=10 probes 2", "hyperplane H=8 L=6 centred", "multi-probe H=16 L=3 radius 1"):
        assert name in names

"""The benchmarks still run (their figures are read by people, not asserted here)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.integration


def test_fetch_fanout_benchmark_runs_and_reports_a_ratio(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'bench.sqlite3'}"
    env["LOG_LEVEL"] = "WARNING"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.fetch_fanout", "--repeats", "1", "--results", tmp_path],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "ratio to the slowest source" in done.stdout
    results = json.loads((tmp_path / "fetch_fanout.json").read_text())
    assert len(results["alone_seconds"]) == 5
    assert results["ratio_to_slowest"] > 0


@pytest.mark.browser
def test_browser_benchmark_runs_a_look_and_reports_its_ratios(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env["LOG_LEVEL"] = "WARNING"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.browser", "--looks", "1", "--results", tmp_path],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "first item: median" in done.stdout and "x the slowest source" in done.stdout
    results = json.loads((tmp_path / "browser.json").read_text())
    assert len(results["alone_seconds"]) == 5
    assert 0 < results["first_item_median"] <= results["settled_median"]
    assert results["settled_ratio_to_slowest"] > 0


def test_the_hosts_of_a_load_run_share_the_deployments_settings_and_keep_their_own_files(
    tmp_path,
):
    from benchmarks.load_hosts import deployment_env, hosts_of, proxy_config

    env = {"DATABASE_URL": "postgres://lcr@db/lcr", "CACHE_URL": "redis://redis:6379/12"}
    hosts = hosts_of(2, 8416, deployment_env(env, "one-key"), tmp_path)

    shared = ("DATABASE_URL", "CACHE_URL", "SECRET_KEY", "LCR_LIVE_URL", "LCR_METRICS_TOKEN")
    own = ("LCR_PORT", "LCR_STATIC_ROOT", "LCR_LIVE_DIR", "LCR_AUDIT_CHECKPOINT_FILE")
    first, second = (host.env for host in hosts)
    assert {key: first[key] for key in shared} == {key: second[key] for key in shared}
    assert (first["SECRET_KEY"], first["LCR_LIVE_URL"]) == ("one-key", "redis://redis:6379/12")
    assert all(first[key] != second[key] for key in own)
    config = proxy_config(8410, hosts, tmp_path / "haproxy.sock")
    assert "bind 127.0.0.1:8410" in config and "balance roundrobin" in config
    assert "server host1 127.0.0.1:8416" in config and "server host2 127.0.0.1:8417" in config

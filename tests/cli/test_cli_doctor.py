import json

from click.testing import CliRunner

from hrm_cli.main import cli


def test_doctor_reports_versions_cache_and_network(tmp_path, monkeypatch):
    monkeypatch.setenv("HRM_HOME", str(tmp_path))
    monkeypatch.setenv("HRM_OFFLINE", "1")
    (tmp_path / "models" / "m").mkdir(parents=True)
    (tmp_path / "models" / "m" / "model.safetensors").write_bytes(b"x" * 2048)
    result = CliRunner().invoke(cli, ["doctor", "--format", "json"])
    assert result.exit_code == 0
    report = json.loads(result.output)
    import torch

    assert report["packages"]["torch"] == torch.__version__
    assert report["cache"]["root"] == str(tmp_path)
    assert report["cache"]["models"]["bytes"] == 2048
    assert report["cache"]["hub"]["path"] == str(tmp_path / "hub")  # huggingface_hub's files
    assert report["network_allowed"] is False
    assert report["environment"]["HRM_OFFLINE"] == "1"
    assert isinstance(report["devices"]["cuda"], list)
    assert report["devices"]["cpu"]["amx_bf16"] in (True, False, None)


def test_doctor_text_is_one_fact_per_line(tmp_path, monkeypatch):
    monkeypatch.setenv("HRM_HOME", str(tmp_path))
    monkeypatch.delenv("HRM_OFFLINE", raising=False)
    result = CliRunner().invoke(cli, ["doctor"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert any(line.startswith("torch") for line in lines)
    assert any(line.startswith("network") and "allowed" in line for line in lines)
    assert any(line.startswith("cache") and str(tmp_path) in line for line in lines)
    assert any(line.startswith("cpu") and "AMX" in line for line in lines)

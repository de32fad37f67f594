"""Settings from overrides, environment and files."""

from __future__ import annotations

import json

import pytest

from radhub.config import ConflictPolicy, load_settings


def test_environment_and_overrides(monkeypatch, tmp_path):
    monkeypatch.setenv("RADHUB_ALLOWED_CALLERS", "MODALITY1, MODALITY2")
    monkeypatch.setenv("RADHUB_HTTP_PORT", "9100")
    s = load_settings(dicom_port=11200, ae_title=None)
    assert s.allowed_callers == ["MODALITY1", "MODALITY2"]
    assert s.http_port == 9100 and s.dicom_port == 11200 and s.ae_title == "RADHUB"
    assert load_settings(http_port=9200).http_port == 9200  # explicit option wins


def test_file_then_environment(monkeypatch, tmp_path):
    cfg = tmp_path / "radhub.json"
    cfg.write_text(json.dumps({
        "http_port": 9300,
        "conflict_policy": "reject",
        "dicom_peers": [{"ae_title": "VIEWER", "host": "127.0.0.1", "port": 104}],
    }))
    s = load_settings(config_file=cfg)
    assert s.http_port == 9300 and s.conflict_policy is ConflictPolicy.REJECT
    assert s.peer("VIEWER").port == 104 and s.peer("OTHER") is None
    monkeypatch.setenv("RADHUB_HTTP_PORT", "9400")
    assert load_settings(config_file=cfg).http_port == 9400
    toml = tmp_path / "radhub.toml"
    toml.write_text('ae_title = "TOMLAE"\n')
    assert load_settings(config_file=toml).ae_title == "TOMLAE"


@pytest.mark.parametrize("bad", [{"ae_title": "A" * 17}, {"ae_title": ""}, {"http_port": "x"}, {"conflict_policy": "overwrite"}])
def test_invalid_settings_are_rejected(bad):
    with pytest.raises(ValueError):
        load_settings(**bad)


def test_sqlite_url_defaults_to_data_dir(tmp_path):
    s = load_settings(data_dir=tmp_path)
    assert s.effective_database_url == f"sqlite:///{(tmp_path / 'catalog.sqlite').resolve()}"

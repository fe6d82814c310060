"""Chapter 7's studies are written network by network and extended without measuring again.

:func:`resnet_course.experiments.studies.run_study` with a stand-in measurement (no data, no
networks): what lands in the file after each network, what ``extend`` keeps and what it refuses.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from resnet_course.experiments.studies import StudySettingsError, run_study

SETTINGS = {"data_variant": "toy", "test_images": 200, "samples": 3, "seed": 0, "precision": "bf16"}
ORDER = ("resnet20", "plain20", "resnet56", "plain56")


def _sources(*names: str, date: str = "2026-11-29T03:00:00+00:00") -> dict[str, dict]:
    return {name: {"result": f"results/zoo/{name}.json", "commit": "abc", "date": date} for name in names}


def _study(folder: Path, networks: list[str], *, measured: list[str], extend: bool = False,
           settings: dict | None = None, sources: dict | None = None, stop_at: str | None = None) -> Path:
    def measure(name: str) -> dict:
        if name == stop_at:
            raise KeyboardInterrupt
        measured.append(name)
        return {"baseline": 0.9, "of": name}

    return run_study("lesion", "a toy study", settings or SETTINGS, networks, [], measure,
                     lambda name, run: f"{name}: done", sources=sources or _sources(*networks), order=ORDER,
                     device="cpu", results_dir=folder, extend=extend)


def _read(folder: Path) -> dict:
    return json.loads((folder / "lesion.json").read_text())


def test_each_finished_network_is_in_the_file_when_a_later_one_is_stopped(tmp_path: Path) -> None:
    measured: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        _study(tmp_path, ["resnet20", "plain20", "resnet56"], measured=measured, stop_at="resnet56")
    result = _read(tmp_path)
    assert list(result["runs"]) == ["resnet20", "plain20"] == list(result["meta"]["networks"])
    assert set(result["meta"]["made"]) == {"resnet20", "plain20"}
    assert result["meta"]["test_images"] == 200 and result["meta"]["experiment"] == "lesion"


def test_extend_measures_only_what_the_file_lacks_and_keeps_the_rest_as_it_was(tmp_path: Path) -> None:
    measured: list[str] = []
    _study(tmp_path, ["resnet20", "plain20"], measured=measured)
    before = _read(tmp_path)
    _study(tmp_path, ["resnet20", "plain20", "resnet56", "plain56"], measured=measured, extend=True)
    after = _read(tmp_path)
    assert measured == ["resnet20", "plain20", "resnet56", "plain56"]  # the first two once only
    assert list(after["runs"]) == list(ORDER)
    for name in ("resnet20", "plain20"):
        assert after["runs"][name] == before["runs"][name]
        assert after["meta"]["made"][name] == before["meta"]["made"][name]


def test_extend_without_the_file_measures_everything(tmp_path: Path) -> None:
    measured: list[str] = []
    _study(tmp_path, ["plain20", "resnet20"], measured=measured, extend=True)
    assert measured == ["plain20", "resnet20"] and list(_read(tmp_path)["runs"]) == ["resnet20", "plain20"]


def test_a_network_retrained_in_the_zoo_is_measured_again(tmp_path: Path) -> None:
    measured: list[str] = []
    _study(tmp_path, ["resnet20", "plain20"], measured=measured)
    newer = {**_sources("resnet20"), **_sources("plain20", date="2026-12-01T00:00:00+00:00")}
    _study(tmp_path, ["resnet20", "plain20"], measured=measured, extend=True, sources=newer)
    assert measured == ["resnet20", "plain20", "plain20"]
    assert _read(tmp_path)["meta"]["networks"]["plain20"]["date"].startswith("2026-12-01")


def test_extend_onto_a_file_with_other_settings_is_refused_and_the_file_kept(tmp_path: Path) -> None:
    _study(tmp_path, ["resnet20"], measured=[])
    before = (tmp_path / "lesion.json").read_bytes()
    with pytest.raises(StudySettingsError, match=r"other settings \(test_images 200 there, 10000 here\)") as error:
        _study(tmp_path, ["resnet20", "plain20"], measured=[], extend=True, settings={**SETTINGS, "test_images": 10000})
    assert "--overwrite" in str(error.value) and "\n" not in str(error.value)
    assert (tmp_path / "lesion.json").read_bytes() == before


def test_a_file_from_before_per_network_provenance_is_extended_with_its_time_kept(tmp_path: Path) -> None:
    old_meta = {"device": "CPU (1 thread)", "commit": "80add88273a0", "date": "2026-11-29T06:02:00+00:00",
                "wall_time_s": 519.3, "networks": _sources("resnet20", "plain20"), **SETTINGS}
    (tmp_path / "lesion.json").write_text(json.dumps({"meta": old_meta, "runs": {"resnet20": {}, "plain20": {}}}))
    measured: list[str] = []
    _study(tmp_path, ["resnet20", "plain20", "resnet56"], measured=measured, extend=True)
    meta = _read(tmp_path)["meta"]
    assert measured == ["resnet56"]
    assert meta["made"]["resnet20"] == {"commit": "80add88273a0", "date": "2026-11-29T06:02:00+00:00",
                                        "device": "CPU (1 thread)", "wall_time_s": None}
    assert meta["wall_time_s"] == pytest.approx(519.3 + meta["made"]["resnet56"]["wall_time_s"], abs=0.11)


def test_extend_with_nothing_to_measure_leaves_the_file_alone(tmp_path: Path, capsys) -> None:
    _study(tmp_path, ["resnet20"], measured=[])
    before = (tmp_path / "lesion.json").read_bytes()
    measured: list[str] = []
    _study(tmp_path, ["resnet20"], measured=measured, extend=True)
    assert measured == [] and (tmp_path / "lesion.json").read_bytes() == before
    assert "nothing to measure" in capsys.readouterr().out


def test_the_chapter_lines_name_who_measured_each_network_and_what_the_zoo_has_beyond(tmp_path: Path) -> None:
    from resnet_course.experiments.studies import describe_networks

    sources = {name: {**entry, "epochs": 30, "test_error": 0.1328} for name, entry in _sources("resnet20").items()}
    _study(tmp_path, ["resnet20"], measured=[], sources=sources)
    lines = describe_networks(_read(tmp_path), "lesion", in_zoo=["resnet20", "resnet56"])
    assert lines[0].startswith("ResNet-20: results/zoo/resnet20.json, 30 epochs, test error 13.28%; measured 20")
    assert lines[1] == ("ResNet-56: in the zoo, not in this study yet ('resnet-course experiment lesion --extend' "
                        "adds it)")
    assert len(lines) == 2


def test_every_network_is_stamped_with_the_commit_the_study_started_from(tmp_path: Path, monkeypatch) -> None:
    """Written into a checkout, the study's own file makes the tree dirty after the first network:
    the code that measured the next ones is still the code of the start (a plain-56 was stamped '+dirty')."""
    import resnet_course.experiments.provenance as provenance

    commits = iter(["abc123", "abc123+dirty", "abc123+dirty", "abc123+dirty", "abc123+dirty"])
    monkeypatch.setattr(provenance, "git_commit", lambda: next(commits))
    _study(tmp_path, ["resnet20", "plain20"], measured=[])
    meta = _read(tmp_path)["meta"]
    assert meta["commit"] == "abc123"
    assert [entry["commit"] for entry in meta["made"].values()] == ["abc123", "abc123"]

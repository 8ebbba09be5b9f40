"""vos_common.config: base inheritance, --opts overrides, typed loading and its error messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest
import yaml
from vos_common.config import (
    apply_overrides,
    config_to_dict,
    dump_config,
    format_config,
    load_config,
    load_yaml_tree,
    parse_overrides,
    parse_yaml_value,
)
from vos_common.errors import VOSDataError
from vos_common.training.config import TrainConfig


@dataclass
class Optim:
    lr: float = 1e-3
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])


@dataclass
class Teacher:
    momentum: float = 0.99
    mode: Literal["copy", "keep"] = "copy"


@dataclass
class Model:
    name: str
    layers: list[int] = field(default_factory=lambda: [2, 2])
    width: int = 64


@dataclass
class Stage:
    model: Model
    optim: Optim = field(default_factory=Optim)
    teacher: Teacher | None = None
    precision: Literal["no", "fp16", "bf16"] = "no"
    steps: int = 10
    tags: dict[str, str] = field(default_factory=dict)
    pretrained: str | None = None


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_base_chain_deep_merges_and_replaces_lists(tmp_path):
    write(
        tmp_path / "common" / "root.yaml",
        "model: {name: r50, layers: [3, 4, 6, 3], width: 64}\noptim: {lr: 1.0e-4}\nsteps: 100\n",
    )
    write(
        tmp_path / "common" / "stage1.yaml",
        "base: root.yaml\nmodel: {layers: [1, 1]}\nsteps: 200\n",
    )
    leaf = write(tmp_path / "stage2.yaml", "base: common/stage1.yaml\noptim: {lr: 1e-5}\n")
    cfg = load_config(leaf, Stage)
    assert cfg.model == Model(name="r50", layers=[1, 1], width=64)  # mapping merged, list replaced
    assert cfg.optim.lr == 1e-5 and cfg.optim.betas == [0.9, 0.999]  # default kept
    assert cfg.steps == 200


def test_list_of_bases_merges_left_to_right_and_records_sources(tmp_path):
    first = write(tmp_path / "a.yaml", "model: {name: a, width: 1}\nsteps: 1\n")
    second = write(tmp_path / "b.yaml", "model: {name: b}\n")
    leaf = write(tmp_path / "c.yaml", "base: [a.yaml, b.yaml]\nsteps: 3\n")
    tree, sources = load_yaml_tree(leaf)
    assert tree == {"model": {"name": "b", "width": 1}, "steps": 3}
    assert sources["model.name"] == str(second.resolve())
    assert sources["model.width"] == str(first.resolve())
    assert sources["steps"] == str(leaf.resolve())


def test_inheritance_cycle_is_refused_with_the_chain(tmp_path):
    write(tmp_path / "a.yaml", "base: b.yaml\nsteps: 1\n")
    write(tmp_path / "b.yaml", "base: a.yaml\n")
    with pytest.raises(VOSDataError, match=r"cycle: .*a\.yaml -> .*b\.yaml -> .*a\.yaml"):
        load_config(tmp_path / "a.yaml", Stage)
    write(tmp_path / "self.yaml", "base: self.yaml\n")
    with pytest.raises(VOSDataError, match="cycle"):
        load_yaml_tree(tmp_path / "self.yaml")


def test_missing_base_and_bad_yaml_name_the_file(tmp_path):
    leaf = write(tmp_path / "leaf.yaml", "base: nowhere.yaml\n")
    with pytest.raises(VOSDataError, match=r"leaf\.yaml: base config 'nowhere\.yaml' not found"):
        load_config(leaf, Stage)
    broken = write(tmp_path / "broken.yaml", "model: [unclosed\n")
    with pytest.raises(VOSDataError, match=r"broken\.yaml: invalid YAML at line"):
        load_config(broken, Stage)
    listing = write(tmp_path / "list.yaml", "- 1\n- 2\n")
    with pytest.raises(VOSDataError, match="must be a YAML mapping"):
        load_config(listing, Stage)


def test_overrides_parse_yaml_values_and_dotted_keys(tmp_path):
    leaf = write(tmp_path / "s.yaml", "model: {name: r18}\n")
    cfg = load_config(
        leaf,
        Stage,
        overrides=[
            "optim.lr",
            "1e-4",
            "model.layers",
            "[1, 2, 3]",
            "precision",
            "no",
            "teacher.momentum",
            "0.9",
            "tags.split",
            "val",
            "pretrained",
            "null",
        ],
    )
    assert cfg.optim.lr == pytest.approx(1e-4) and isinstance(cfg.optim.lr, float)
    assert cfg.model.layers == [1, 2, 3]
    assert cfg.precision == "no"  # YAML 1.2: 'no' is a string, not False
    assert cfg.teacher == Teacher(momentum=0.9, mode="copy")  # created from None
    assert cfg.tags == {"split": "val"}
    assert cfg.pretrained is None


def test_yaml_scalars_follow_yaml_1_2():
    assert parse_yaml_value("1e-4") == pytest.approx(1e-4)
    assert parse_yaml_value("-2.5E3") == -2500.0
    assert parse_yaml_value("off") == "off" and parse_yaml_value("yes") == "yes"
    assert parse_yaml_value("true") is True and parse_yaml_value("False") is False
    assert parse_yaml_value("[a, 2]") == ["a", 2]
    assert parse_yaml_value("7") == 7


def test_override_errors(tmp_path):
    with pytest.raises(VOSDataError, match="last key 'steps' has no value"):
        parse_overrides(["optim.lr", "1", "steps"])
    with pytest.raises(VOSDataError, match="not a dotted key"):
        parse_overrides(["optim..lr", "1"])
    with pytest.raises(VOSDataError, match="'model.name' is a str, not a mapping"):
        apply_overrides({"model": {"name": "x"}}, [("model.name.first", 1)])
    leaf = write(tmp_path / "s.yaml", "model: {name: r18}\n")
    with pytest.raises(VOSDataError) as err:
        load_config(leaf, Stage, overrides=["optim.lrr", "0.1"])
    message = str(err.value)
    assert message.startswith(str(leaf.resolve()))
    assert "--opts optim.lrr: unknown key; did you mean 'optim.lr'?" in message


def test_unknown_key_names_the_dotted_key_and_the_file_that_wrote_it(tmp_path):
    base = write(tmp_path / "base.yaml", "model: {name: r18, widht: 3}\n")
    leaf = write(tmp_path / "leaf.yaml", "base: base.yaml\nsteps: 5\n")
    with pytest.raises(VOSDataError) as err:
        load_config(leaf, Stage)
    assert str(err.value).startswith(f"{base.resolve()}: model.widht: unknown key")
    assert "did you mean 'model.width'" in str(err.value)
    assert "keys of Model: name, layers, width" in str(err.value)


def test_type_errors_name_key_and_expected_type(tmp_path):
    cases = [
        ("model: {name: r18}\nsteps: ten\n", r"steps: expected an integer, got str 'ten'"),
        ("model: {name: r18}\nsteps: true\n", r"steps: expected an integer, got bool True"),
        ("model: {name: r18}\nsteps: 2.5\n", r"steps: expected an integer, got float 2.5"),
        ("model: {name: 18}\n", r"model.name: expected a string, got int 18 \(quote it"),
        ("model: {name: r, layers: [1, x]}\n", r"model.layers\[1\]: expected an integer"),
        ("model: {name: r}\nprecision: fp8\n", r"precision: expected one of 'no', 'fp16', 'bf16'"),
        ("model: {name: r}\noptim: 3\n", r"optim: expected a mapping for Optim, got int 3"),
        (
            "model: {name: r}\nteacher: {mode: copy, momentum: high}\n",
            r"teacher.momentum: expected a number",
        ),
        ("optim: {lr: 1}\n", r"model: required key is missing"),
    ]
    for index, (text, pattern) in enumerate(cases):
        path = write(tmp_path / f"case{index}.yaml", text)
        with pytest.raises(VOSDataError, match=pattern):
            load_config(path, Stage)
    ok = load_config(write(tmp_path / "ints.yaml", "model: {name: r}\noptim: {lr: 1}\n"), Stage)
    assert ok.optim.lr == 1.0 and isinstance(ok.optim.lr, float)  # ints widen to float


def test_dump_round_trip_and_pretty_print(tmp_path):
    leaf = write(
        tmp_path / "s.yaml", "model: {name: r18}\nteacher: {momentum: 0.5}\nprecision: 'no'\n"
    )
    cfg = load_config(leaf, Stage, overrides=["optim.lr", "2e-5"])
    out = tmp_path / "run" / "config.yaml"
    dump_config(cfg, out)
    assert load_config(out, Stage) == cfg
    text = format_config(cfg)
    assert text.index("model:") < text.index("optim:") < text.index("teacher:")  # field order
    assert yaml.safe_load(text)["precision"] == "no"
    assert config_to_dict(cfg)["teacher"] == {"momentum": 0.5, "mode": "copy"}
    assert [p.name for p in out.parent.iterdir()] == ["config.yaml"]  # no temporary left


@dataclass
class WithTrain:
    train: TrainConfig


def test_dataclass_validation_errors_are_reported_with_the_file(tmp_path):
    path = write(tmp_path / "both.yaml", "train: {max_steps: 3, epochs: 2}\n")
    with pytest.raises(
        VOSDataError, match=r"both\.yaml: train: invalid TrainConfig: give exactly one"
    ):
        load_config(path, WithTrain)

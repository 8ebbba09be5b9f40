"""vos_common.checkpoint: containers, weights_only loading, key maps, strict-load errors,
atomic saving, the registry and the identify/inspect CLI."""

from __future__ import annotations

import argparse
import datetime
import hashlib
import pickle
from collections import OrderedDict

import pytest
import torch
import yaml
from torch import nn
from vos_common.checkpoint import (
    DROP,
    KEY_MAPS,
    KeyMap,
    extract_state_dict,
    file_digests,
    identify,
    load_checkpoint,
    load_registry,
    load_weights,
    save_checkpoint,
    save_state_dict,
    state_dict_sha256,
)
from vos_common.checkpoint.__main__ import main as checkpoint_cli
from vos_common.errors import VOSDataError


class Trunk(nn.Module):
    """A torchvision-named miniature: conv1, bn1, layer1.0.conv1, fc."""

    def __init__(self, in_channels: int = 3):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 4, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(4)
        self.layer1 = nn.Sequential(nn.Module())
        self.layer1[0].conv1 = nn.Conv2d(4, 4, 1, bias=False)
        self.fc = nn.Linear(4, 2)


def random_state(module: nn.Module) -> OrderedDict:
    torch.manual_seed(1)
    return OrderedDict(
        (k, torch.randn_like(v.float()).to(v.dtype)) for k, v in module.state_dict().items()
    )


def assert_loaded(module: nn.Module, state: dict) -> None:
    for key, value in module.state_dict().items():
        torch.testing.assert_close(value, state[key])


@pytest.mark.parametrize(
    "wrap, expected",
    [
        (lambda s: s, "bare state_dict"),
        (lambda s: {"state_dict": s, "epoch": 3}, "checkpoint ['state_dict']"),
        (lambda s: {"model": s, "optimizer": {}, "epoch": 1}, "checkpoint ['model']"),
        (
            lambda s: {"it": 5, "network": s, "optimizer": {}, "scheduler": {}},
            "checkpoint ['network']",
        ),
    ],
)
def test_each_plain_container_loads_strictly(tmp_path, wrap, expected):
    net = Trunk()
    state = random_state(net)
    path = tmp_path / "weights.pth"
    torch.save(wrap(state), path)
    report = load_weights(Trunk(), path)
    assert report.container.startswith(expected) and report.loaded == len(state)
    target = Trunk()
    load_weights(target, path)
    assert_loaded(target, state)


def test_model_ema_on_request_and_lightning_checkpoint(tmp_path):
    state, teacher = random_state(Trunk()), random_state(Trunk())
    teacher = OrderedDict((k, v + 1 if v.is_floating_point() else v) for k, v in teacher.items())
    torch.save({"model": state, "model_ema": teacher, "epoch": 9}, tmp_path / "oast.pth")
    student_net, teacher_net = Trunk(), Trunk()
    load_weights(student_net, tmp_path / "oast.pth")
    report = load_weights(teacher_net, tmp_path / "oast.pth", ema=True)
    assert report.container.startswith("['model_ema']")
    assert_loaded(student_net, state)
    assert_loaded(teacher_net, teacher)

    lightning = {
        "epoch": 199,
        "global_step": 43200,
        "pytorch-lightning_version": "1.7.7",
        "state_dict": OrderedDict((f"model.{k}", v) for k, v in state.items()),
        "optimizer_states": [],
        "lr_schedulers": [],
        "callbacks": {},
    }
    torch.save(lightning, tmp_path / "last.ckpt")
    net = Trunk()
    report = load_weights(net, tmp_path / "last.ckpt", key_map=KEY_MAPS["strip_lightning_model"])
    assert "Lightning checkpoint (version 1.7.7, epoch 199, global_step 43200)" in report.container
    assert_loaded(net, state)
    extracted = extract_state_dict(torch.load(tmp_path / "last.ckpt", weights_only=True))
    assert extracted.metadata["global_step"] == 43200 and extracted.location == ("state_dict",)


def test_moco_container_through_its_declared_key_map(tmp_path):
    state = random_state(Trunk())
    moco = OrderedDict()
    for key, value in state.items():
        moco[f"module.encoder_q.{key}"] = value
        moco[f"module.encoder_k.{key}"] = value * 0
    moco["module.queue"] = torch.zeros(4, 8)
    moco["module.queue_ptr"] = torch.zeros(1, dtype=torch.long)
    torch.save(
        {"epoch": 200, "arch": "resnet50", "state_dict": moco, "optimizer": {}},
        tmp_path / "moco.pth.tar",
    )
    backbone = Trunk()
    del backbone.fc
    report = load_weights(
        backbone, tmp_path / "moco.pth.tar", key_map=KEY_MAPS["moco_v1_encoder_q"]
    )
    assert report.container.startswith("MoCo-style checkpoint ['state_dict']")
    assert len(report.dropped) == len(moco) - (len(state) - 2)  # encoder_k, queue and fc dropped
    assert_loaded(backbone, state)


def test_argparse_namespace_inside_a_checkpoint_loads_with_weights_only(tmp_path):
    state = OrderedDict((f"online_encoder.{k}", v) for k, v in random_state(Trunk()).items())
    state["online_projector.linear1.weight"] = torch.ones(2)
    args = argparse.Namespace(lr=1e-3, remove_layers=["layer4"], momentum_target=0.99, save=None)
    path = tmp_path / "pretrained_fc.pth"
    torch.save({"model": state, "optimizer": {}, "epoch": 20, "args": args}, path)
    with pytest.raises(pickle.UnpicklingError):  # plain weights_only refuses the Namespace
        torch.load(path, weights_only=True)
    loaded = load_checkpoint(path)
    assert loaded["args"] == args
    assert (
        argparse.Namespace not in torch.serialization.get_safe_globals()
    )  # allowed only while loading
    net = Trunk()
    load_weights(net, path, key_map=KEY_MAPS["sfc_online_encoder"])
    assert_loaded(
        net, {k[len("online_encoder.") :]: v for k, v in state.items() if k.startswith("online")}
    )


def test_other_pickled_objects_are_refused_with_a_readable_error(tmp_path):
    path = tmp_path / "custom.pth"
    torch.save({"model": random_state(Trunk()), "date": datetime.date(2022, 5, 23)}, path)
    with pytest.raises(
        VOSDataError, match=r"custom\.pth: contains a pickled datetime\.date object"
    ):
        load_checkpoint(path)
    junk = tmp_path / "junk.pth"
    for content in (b"not a checkpoint at all", b"PK\x03\x04 truncated zip"):
        junk.write_bytes(content)
        with pytest.raises(VOSDataError, match=r"junk\.pth: not a readable torch checkpoint"):
            load_checkpoint(junk)
    with pytest.raises(VOSDataError, match="checkpoint file not found"):
        load_checkpoint(tmp_path / "absent.pth")
    torch.save({"weights": random_state(Trunk()), "epoch": 1}, tmp_path / "odd.pth")
    with pytest.raises(
        VOSDataError,
        match=r"no state_dict found under state_dict, model, network "
        r"\(top-level keys: 'weights', 'epoch'\)",
    ):
        load_weights(Trunk(), tmp_path / "odd.pth")
    assert load_weights(Trunk(), tmp_path / "odd.pth", key="weights").loaded == 9
    with pytest.raises(VOSDataError, match="no 'model_ema' entry"):
        load_weights(Trunk(), tmp_path / "odd.pth", ema=True)


def test_wrong_checkpoint_reports_missing_unexpected_and_shapes_in_one_error(tmp_path):
    state = random_state(Trunk())
    state.pop("bn1.weight")
    state.pop("layer1.0.conv1.weight")
    state["head.weight"] = torch.zeros(3)
    state["conv1.weight"] = torch.zeros(4, 5, 3, 3)
    for index in range(10):
        state[f"extra.{index}.weight"] = torch.zeros(1)
    path = tmp_path / "wrong.pth"
    torch.save({"state_dict": state}, path)
    with pytest.raises(VOSDataError) as err:
        load_weights(Trunk(), path)
    message = str(err.value)
    assert message.startswith(f"{path}: does not fit Trunk: ")
    assert "2 missing key(s) (bn1.weight, layer1.0.conv1.weight)" in message
    assert (
        "11 unexpected key(s) (head.weight, extra.0.weight, extra.1.weight, extra.2.weight,"
        in message
    )
    assert "... and 5 more)" in message
    assert "1 shape mismatch(es) (conv1.weight: file [4, 5, 3, 3] vs model [4, 3, 3, 3])" in message
    assert "[container: checkpoint ['state_dict']" in message
    assert "\n" not in message


def test_prefix_hint_and_allow_missing(tmp_path):
    state = random_state(Trunk())
    torch.save({f"backbone.{k}": v for k, v in state.items()}, tmp_path / "prefixed.pth")
    with pytest.raises(
        VOSDataError, match=r"hint: 8 keys match if you strip the prefix 'backbone\.'"
    ):
        load_weights(Trunk(), tmp_path / "prefixed.pth")
    load_weights(Trunk(), tmp_path / "prefixed.pth", key_map=KeyMap([("backbone.", "")]))

    no_head = {k: v for k, v in state.items() if not k.startswith("fc.")}
    torch.save(no_head, tmp_path / "no_head.pth")
    with pytest.raises(VOSDataError, match="2 missing key"):
        load_weights(Trunk(), tmp_path / "no_head.pth")
    report = load_weights(Trunk(), tmp_path / "no_head.pth", allow_missing=["fc."])
    assert report.missing_allowed == ["fc.weight", "fc.bias"]

    legacy = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    torch.save(legacy, tmp_path / "legacy.pth")  # files older than the BN counter lack it
    assert load_weights(Trunk(), tmp_path / "legacy.pth").missing_allowed == [
        "bn1.num_batches_tracked"
    ]


def test_key_map_rules_first_match_regex_drop_and_collisions():
    key_map = KeyMap(
        [
            ("module.encoder_q.fc.", DROP),
            ("re:module\\.encoder_q\\.layer(\\d)\\.", "res\\1."),
            ("module.encoder_q.", ""),
            ("", "backbone2."),
        ]
    )
    assert key_map.map_key("module.encoder_q.fc.weight") is None
    assert key_map.map_key("module.encoder_q.layer3.0.conv1.weight") == "res3.0.conv1.weight"
    assert key_map.map_key("module.encoder_q.conv1.weight") == "conv1.weight"
    assert key_map.map_key("decode_head.weight") == "backbone2.decode_head.weight"
    result = KeyMap([("a.", "")]).apply({"a.w": torch.zeros(1), "b": torch.ones(1)})
    assert list(result.state_dict) == ["w", "b"] and result.renamed == 1
    with pytest.raises(
        VOSDataError, match=r"f\.pth: key map 'merge' maps both 'a\.w' and 'b\.w' to 'w'"
    ):
        KeyMap([("a.", ""), ("b.", "")], name="merge").apply(
            {"a.w": torch.zeros(1), "b.w": torch.zeros(1)}, "f.pth"
        )


def test_saving_is_atomic_and_fingerprints_compare_weights(tmp_path):
    net = Trunk()
    path = tmp_path / "out" / "net.pth"
    save_state_dict(net, path)
    assert [p.name for p in path.parent.iterdir()] == ["net.pth"]
    loaded = torch.load(path, weights_only=True)
    assert state_dict_sha256(loaded) == state_dict_sha256(net.state_dict())

    def fail(_):
        raise RuntimeError("disk full")

    from vos_common.io.atomic import atomic_save

    with pytest.raises(RuntimeError):
        atomic_save(tmp_path / "out" / "broken.pth", fail)
    assert [p.name for p in path.parent.iterdir()] == ["net.pth"]
    save_checkpoint({"network": net.state_dict(), "it": 3}, tmp_path / "out" / "ckpt.pth")
    assert load_checkpoint(tmp_path / "out" / "ckpt.pth")["it"] == 3
    changed = dict(loaded, **{"fc.bias": loaded["fc.bias"] + 1})
    assert state_dict_sha256(changed) != state_dict_sha256(loaded)


# ------------------------------------------------------------------------------------------
# registry and CLI


def write_registry(path, entries: dict) -> None:
    path.write_text(yaml.safe_dump({"checkpoints": entries}))


def test_identify_by_registered_sha256_size_and_name(tmp_path):
    weights = tmp_path / "model_s012_final.pth"
    torch.save(random_state(Trunk()), weights)
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    registry_file = tmp_path / "registry.yaml"
    write_registry(
        registry_file,
        {
            "rde_test": {
                "file_name": "renamed.pth",
                "sha256": digest,
                "size_bytes": weights.stat().st_size,
                "used_by": ["rde: eval"],
                "source_url": "https://example.invalid/rde",
            },
            "other": {"file_name": "model_s012_final.pth", "sha256": "0" * 64},
        },
    )
    result = identify(weights, load_registry(registry_file))
    assert result.match is not None and result.match.name == "rde_test"
    assert result.evidence == "sha256 matches" and result.sha256 == digest
    assert "identified: rde_test (sha256 matches)" in result.summary()

    write_registry(
        registry_file,
        {
            "by_name": {"file_name": "model_s012_final.pth"},
            "wrong_size": {"file_name": "model_s012_final.pth", "size_bytes": 1},
        },
    )
    result = identify(weights, load_registry(registry_file))
    assert result.match is None and [c.name for c in result.candidates] == ["by_name"]
    assert "the file name matches, but no registered size or hash confirms it" in result.summary()

    prefix = file_digests(weights)["sha256"][:8]
    write_registry(
        registry_file,
        {"hub_style": {"file_name": f"net-{prefix}.pth", "hash_prefix": f"sha256:{prefix}"}},
    )
    result = identify(weights, load_registry(registry_file))
    assert (
        result.match.name == "hub_style" and "as the official file name states" in result.evidence
    )


def test_registry_schema_errors_name_the_entry(tmp_path):
    registry_file = tmp_path / "bad.yaml"
    write_registry(registry_file, {"x": {"sha256": "abc"}})
    with pytest.raises(
        VOSDataError,
        match=r"bad\.yaml: checkpoints\.x: invalid KnownCheckpoint: sha256 must be 64 hex",
    ):
        load_registry(registry_file)
    write_registry(registry_file, {"x": {"file_name": "a.pth", "checksum": "1"}})
    with pytest.raises(VOSDataError, match=r"checkpoints\.x\.checksum: unknown key"):
        load_registry(registry_file)
    write_registry(registry_file, {"x": {"key_map": "no_such_map"}})
    with pytest.raises(VOSDataError, match="unknown key_map 'no_such_map'"):
        load_registry(registry_file)


def test_packaged_registry_lists_the_spec_checkpoints_without_invented_hashes():
    registry = load_registry()
    names = {entry.file_name for entry in registry}
    for file_name in (
        "propagation_model.pth",
        "model_s012_final.pth",
        "model_s012_final_yv.pth",
        "pretrained_fc.pth",
        "moco_v1_200ep_pretrain.pth.tar",
        "last.ckpt",
        "densecl_r50_imagenet_200ep.pth",
        "resnet50-19c8e357.pth",
    ):
        assert file_name in names
    assert all(entry.sha256 is None and entry.size_bytes is None for entry in registry)
    assert any(entry.used_by and entry.used_by[0].startswith("oast:") for entry in registry)
    from torchvision.models import ResNet18_Weights, ResNet50_Weights

    for weights, name in (
        (ResNet50_Weights.IMAGENET1K_V1, "torchvision_resnet50_imagenet1k_v1"),
        (ResNet18_Weights.IMAGENET1K_V1, "torchvision_resnet18_imagenet1k_v1"),
    ):
        entry = registry[name]
        assert entry.source_url == weights.url and weights.url.endswith(entry.file_name)
        assert entry.hash_prefix == "sha256:" + entry.file_name.rsplit("-", 1)[1].split(".")[0]


def test_cli_identify_and_inspect(tmp_path, capsys):
    net = Trunk()
    path = tmp_path / "last.ckpt"
    torch.save(
        {
            "pytorch-lightning_version": "1.7.7",
            "epoch": 19,
            "global_step": 4320,
            "state_dict": {f"model.{k}": v for k, v in net.state_dict().items()},
            "hyper_parameters": {"lr": 1e-5},
        },
        path,
    )
    registry_file = tmp_path / "registry.yaml"
    write_registry(
        registry_file,
        {
            "rcf_stage2": {
                "file_name": "last.ckpt",
                "sha256": file_digests(path)["sha256"],
                "used_by": ["rcf: stage 2.2"],
            }
        },
    )
    assert checkpoint_cli(["identify", str(path), "--registry", str(registry_file)]) == 0
    out = capsys.readouterr().out
    assert "identified: rcf_stage2 (sha256 matches)" in out and "used by: rcf: stage 2.2" in out
    assert checkpoint_cli(["identify", str(path)]) == 1
    assert "same file name as rcf_lightning_last" in capsys.readouterr().out

    assert checkpoint_cli(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert "container: Lightning checkpoint (version 1.7.7, epoch 19, global_step 4320)" in out
    assert "  global_step: int 4320" in out and "hyper_parameters: dict, 1 entries" in out
    assert "state_dict: 9 tensors" in out and "top-level prefixes: model (9)" in out
    assert "model.conv1.weight" in out and "[4, 3, 3, 3]" in out

    torch.save({"weights": net.state_dict(), "epoch": 3}, tmp_path / "odd.pth")
    assert checkpoint_cli(["inspect", str(tmp_path / "odd.pth")]) == 1
    out = capsys.readouterr().out
    assert (
        "container: no state_dict found" in out and "  weights: dict, 9 entries (9 tensors)" in out
    )
    assert checkpoint_cli(["inspect", str(tmp_path / "odd.pth"), "--key", "weights"]) == 0
    assert "container: ['weights'] (9 keys)" in capsys.readouterr().out

    with pytest.raises(SystemExit) as exit_info:
        checkpoint_cli(["inspect", str(tmp_path / "absent.pth")])
    assert exit_info.value.code == 2
    assert "absent.pth: checkpoint file not found" in capsys.readouterr().err
    assert checkpoint_cli(["list"]) == 0
    assert "mivos_propagation_s012: propagation_model.pth" in capsys.readouterr().out

"""vos_common.stm.synthetic: extra synthetic training videos in a DAVIS-like folder pair."""

from __future__ import annotations

import numpy as np
from vos_common.io import read_label_map
from vos_common.stm.synthetic import write_training_videos
from vos_common.synth import SynthConfig, generate_video


def test_writes_videos_of_its_own_seed_and_reuses_them(tmp_path):
    images, masks = write_training_videos(tmp_path / "syn", 2, seed=7, size=(32, 48), frames=4)
    names = sorted(p.name for p in images.iterdir())
    assert names == ["train-0000", "train-0001"]
    assert sorted(p.name for p in (images / names[1]).iterdir())[-1] == "00003.jpg"
    expected = generate_video(SynthConfig(height=32, width=48, frames=4, num_objects=(1, 2),
                                          seed=7, late_objects=0, name_prefix="train"), 1)
    assert np.array_equal(read_label_map(masks / names[1] / "00002.png"), expected.masks[2])
    stamp = (masks / names[0] / "00000.png").stat().st_mtime_ns
    write_training_videos(tmp_path / "syn", 2, seed=7, size=(32, 48), frames=4)  # reused
    assert (masks / names[0] / "00000.png").stat().st_mtime_ns == stamp
    write_training_videos(tmp_path / "syn", 1, seed=8, size=(32, 48), frames=4)  # redone
    assert sorted(p.name for p in images.iterdir()) == ["train-0000"]

"""The data of a matrix run: the synthetic benchmark (generated once per configuration, cached),
or the real dataset roots given on the command line, behind one :class:`DataRoots`."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

from vos_common import __version__ as vos_common_version
from vos_common.errors import VOSDataError
from vos_common.io import atomic_write_text
from vos_common.synth import SynthConfig
from vos_common.synth.video import LazyVideos
from vos_common.synth.writers import FORMATS, write_benchmark

# benchmark name -> synthetic layout folder
SYNTHETIC_LAYOUTS = {
    "davis2016": "davis2016",
    "davis2017": "davis2017",
    "davis2017-unsupervised": "davis2017",
    "ytvos2019": "ytvos2019",
    "fbms59": "fbms59",
    "segtrackv2": "segtrackv2",
}


def synth_config(settings: dict, overrides: dict | None = None) -> tuple[SynthConfig, int]:
    """The SynthConfig and video count of ``matrix.yaml``'s ``synthetic`` block (+ overrides)."""
    settings = {**settings, **{k: v for k, v in (overrides or {}).items() if v is not None}}
    height, width = settings["size"]
    num_objects = settings.get("num_objects", (1, 3))
    config = SynthConfig(
        height=int(height),
        width=int(width),
        frames=int(settings["frames"]),
        seed=int(settings.get("seed", 0)),
        num_objects=tuple(num_objects) if isinstance(num_objects, list) else num_objects,
        late_objects=int(settings.get("late_objects", 1)),
    )
    return config, int(settings["videos"])


def benchmark_folder(cache: Path, config: SynthConfig, count: int) -> Path:
    """Cache folder named by a hash of everything that determines the written files."""
    key = json.dumps(
        {
            "config": asdict(config),
            "count": count,
            "formats": list(FORMATS),
            "vos_common": vos_common_version,
        },
        sort_keys=True,
        default=str,
    )
    return cache / "synth" / hashlib.sha256(key.encode()).hexdigest()[:16]


def ensure_benchmark(
    folder: Path, config: SynthConfig, count: int, force: bool = False, progress: bool = False
) -> bool:
    """Write the benchmark into ``folder`` unless complete there; returns whether it was generated.

    Written into a temporary sibling folder and renamed at the end, so an interrupted run never
    leaves a half-written benchmark that looks complete.
    """
    if folder.is_dir() and (folder / "config.json").is_file() and not force:
        return False
    tmp = folder.with_name(folder.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    write_benchmark(LazyVideos(config, count), format="all", out=tmp, progress=progress)
    atomic_write_text(
        tmp / "config.json",
        json.dumps({"config": asdict(config), "count": count}, indent=2, default=str),
    )
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return True


@dataclass
class DataRoots:
    """Where each benchmark's data lives, for the synthetic or the real matrix.

    ``mode`` is ``"synthetic"`` or ``"real"``; ``roots`` maps a benchmark name to its root
    (absent = not available in this run); ``oast_root`` is OAST's own layout
    (``<Dataset>/<split>/{images,flows,labels}``), ``train_root`` the DAVIS 2017 root whose
    train split the tiny configs learn on (synthetic only).
    """

    mode: str
    roots: dict[str, Path] = field(default_factory=dict)
    oast_root: Path | None = None
    synthetic_folder: Path | None = None

    def root(self, benchmark: str) -> Path:
        if benchmark not in self.roots:
            raise VOSDataError(None, f"no data for benchmark {benchmark} in this run")
        return self.roots[benchmark]

    @classmethod
    def synthetic(cls, folder: Path) -> DataRoots:
        return cls(
            "synthetic",
            {name: folder / layout for name, layout in SYNTHETIC_LAYOUTS.items()},
            oast_root=folder / "oast",
            synthetic_folder=folder,
        )

    @classmethod
    def real(cls, options: dict[str, Path | None], oast_root: Path | None) -> DataRoots:
        """From the command line's roots: ``{"davis-root": path or None, ...}``."""
        by_option = {
            "davis2016-root": ("davis2016",),
            "davis-root": ("davis2017", "davis2017-unsupervised"),
            "ytvos-root": ("ytvos2019",),
            "fbms-root": ("fbms59",),
            "segtrack-root": ("segtrackv2",),
        }
        roots = {}
        for option, benchmarks in by_option.items():
            path = options.get(option)
            if path is None:
                continue
            if not Path(path).is_dir():
                raise VOSDataError(path, f"--{option}: folder does not exist")
            for name in benchmarks:
                roots[name] = Path(path).resolve()
        if oast_root is not None and not Path(oast_root).is_dir():
            raise VOSDataError(oast_root, "--oast-root: folder does not exist")
        return cls("real", roots, Path(oast_root).resolve() if oast_root else None)


def staged_davis(work: Path, data: DataRoots) -> Path:
    """A folder ``<work>/davis`` holding ``2017/trainval`` and ``2016`` as links to the roots.

    MiVOS and RDE scripts take the parent of ``trainval/`` (``--davis``, ``--davis_path``) and
    look for the 2016 sets next to it, as the original repositories' folder layout does.
    """
    staged = work / "davis"
    (staged / "2017").mkdir(parents=True, exist_ok=True)
    for link, benchmark in (
        (staged / "2017" / "trainval", "davis2017"),
        (staged / "2016", "davis2016"),
    ):
        if benchmark in data.roots:
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(data.roots[benchmark], target_is_directory=True)
    return staged

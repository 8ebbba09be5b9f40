"""OAST (ICCV 2023): unsupervised VOS with online adversarial self-tuning, re-implemented from its
specification. Entry points: ``python -m oast.unlabeled_train`` (phases A/B),
``oast.online_finetuning`` (phase C), ``oast.test``, ``oast.segment``; see the package README."""

__version__ = "0.1.0"

from oast.model.network import MobileViTVOS, OASTOutput  # noqa: E402

__all__ = ["MobileViTVOS", "OASTOutput", "__version__"]

"""OAST's networks: MobileViT (2-D and 3-D), segmentation network, discriminators, losses."""

from oast.model.discriminator import DiscriminatorFinetuning, DiscriminatorTrain
from oast.model.losses import (
    ab_adversarial_loss,
    c_adversarial_loss,
    iou_metric,
    online_seg_loss,
    seg_loss,
)
from oast.model.mobilevit import SCALES, MobileViT, mobilevit_config
from oast.model.network import MobileViTVOS, OASTOutput, check_input_size

__all__ = [
    "SCALES",
    "DiscriminatorFinetuning",
    "DiscriminatorTrain",
    "MobileViT",
    "MobileViTVOS",
    "OASTOutput",
    "ab_adversarial_loss",
    "c_adversarial_loss",
    "check_input_size",
    "iou_metric",
    "mobilevit_config",
    "online_seg_loss",
    "seg_loss",
]

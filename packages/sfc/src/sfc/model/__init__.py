"""SFC networks: the modified ResNet trunks, checkpoint declarations, the FC pre-training net."""

from sfc.model.checkpoints import ENCODERS, FC_MODEL_TYPES, SEMANTIC_MODEL_TYPES, EncoderSpec
from sfc.model.encoder import FEATURE_STRIDE, Encoder, encoder_from_state, make_encoder
from sfc.model.resnet import build_trunk, refresh_batchnorm, set_reflect_padding

__all__ = [
    "ENCODERS",
    "FC_MODEL_TYPES",
    "FEATURE_STRIDE",
    "SEMANTIC_MODEL_TYPES",
    "Encoder",
    "EncoderSpec",
    "build_trunk",
    "encoder_from_state",
    "make_encoder",
    "refresh_batchnorm",
    "set_reflect_padding",
]

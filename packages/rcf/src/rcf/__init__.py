"""RCF (CVPR 2023): unsupervised video object segmentation by relaxed common fate + grouping.

Stages: motion-supervised training (stage 1), motion-appearance alignment (object slot),
low-level CRF refinement (stage 2.1), semantic constraints with DINO pseudo-labels (stage 2.2),
dense-CRF post-processing and RCF's evaluation protocols; plus the AMD baseline.
See the package README for the commands.
"""

__version__ = "0.1.0"

"""CoAtNet (Dai et al. 2021) blocks: pre-norm MBConv and the transformer block with 2-D
relative attention (netscale/nn/attention.py). Layouts follow the paper (sec. 3) as timm's
`coatnet_*` models do; netscale.plan.blocks lists their layers."""

from __future__ import annotations

from netscale.nn.layers import PlannedBlock
from netscale.plan import blocks


class PreNormMBConv(PlannedBlock):
    """BN -> 1x1 expand + BN + act -> kxk depthwise (stride) + BN + act -> SE -> 1x1 project
    (bias), added to the pooled shortcut. Inner and SE widths derive from the output width."""

    layout = staticmethod(blocks.pre_norm_mbconv)


class TransformerBlock(PlannedBlock):
    """Pre-norm transformer block on a 2-D map: x + attn(pool(LN(x))), then x + MLP(LN(x)).
    A downsampling first block pools on the branch and pools + projects the residual."""

    layout = staticmethod(blocks.transformer)

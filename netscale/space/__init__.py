"""Design spaces (RegNet paper sec. 3): AnyNetX_A..E, RegNetX/Y and user-defined ranges,
sampled with an explicit seed inside flops/params/acts bands. No torch.

    from netscale.space import get_space, sample, size
    space = get_space("anynet_xa")
    models = sample(space, 100, seed=0, flops=(360e6, 400e6))
"""

from netscale.space.params import Param, SpaceError
from netscale.space.sample import Sample, sample
from netscale.space.size import size
from netscale.space.spaces import (
    PAPER_FLOPS_BAND,
    Space,
    get_space,
    list_spaces,
    load_space,
)

__all__ = [
    "PAPER_FLOPS_BAND",
    "Param",
    "Sample",
    "Space",
    "SpaceError",
    "get_space",
    "list_spaces",
    "load_space",
    "sample",
    "size",
]

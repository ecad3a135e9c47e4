"""The synthetic video world: deterministic panoptic videos with moving, occluding, entering and
leaving shapes over panned stuff textures, with referring expressions (``univs synth``).

``generate_world(SynthConfig(...))`` gives the full panoptic :class:`VideoDataset`;
``task_view(world, task)`` the slice a task's native formats hold.
"""

from univs.config import SynthConfig
from univs.data.synth.views import TASK_VIEWS, task_view
from univs.data.synth.world import generate_video, generate_world

__all__ = ["SynthConfig", "TASK_VIEWS", "generate_video", "generate_world", "task_view"]

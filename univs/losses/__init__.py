"""univs.losses: Hungarian matcher and the UniVS training criterion (architecture.md §5)."""

from univs.losses.criterion import LOSS_TERMS, SetCriterion
from univs.losses.matcher import HungarianMatcher, matching_cost, visible_frames

__all__ = ["LOSS_TERMS", "HungarianMatcher", "SetCriterion", "matching_cost", "visible_frames"]

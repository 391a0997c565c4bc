"""Trained cells meeting each other: the cells that may play (``league``), cross-play between
agents on cooperative tasks (``partners``) and OpenSkill ratings on competitive ones
(``ratings``)."""

"""`imagekit verify`: an image booted as a real Trove instance in the devcloud,
watched phase by phase (phases.py), diagnosed from its disk when it stalls."""

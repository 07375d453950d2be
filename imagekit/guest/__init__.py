"""Everything that touches a disk image through libguestfs."""

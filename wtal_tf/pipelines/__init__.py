"""End-to-end jobs composed from the library (the main job, ablations, grids)."""

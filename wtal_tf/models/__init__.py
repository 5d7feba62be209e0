"""Models: the CAS model (RefineLoc base), AutoLoc, the RefineLoc loop."""

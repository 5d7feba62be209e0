"""Keras models: the CAS model (RefineLoc's base) and AutoLoc (ops/, layers/, configs/ only)."""

"""SavedModel export for TF Serving, installed as ``wtal_export``."""

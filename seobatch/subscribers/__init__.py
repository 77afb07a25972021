"""Event subscribers shipped with seobatch; name them in ``SEOBATCH_SUBSCRIBERS``."""

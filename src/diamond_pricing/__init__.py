"""Diamond pricing service: pricing rules, a cached catalog API and the reapply-pricing job."""

__version__ = "0.1.0"

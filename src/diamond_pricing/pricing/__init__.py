"""Pricing rules and the pricing engine."""

"""Shipped default models: Splink settings JSON and thresholds per entity, trained on generated data."""

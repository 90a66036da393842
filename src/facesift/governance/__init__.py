"""The rules for who may do what, and why. Surfaces call these before any service acts."""

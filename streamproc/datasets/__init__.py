"""Datasets: the model (model), public rules (rules), the fast path (fast), the registry, one module per dataset."""

"""Test-only datasets, loaded by dotted name (`load_registry(["tests.datasets.vaccinations"])`), never discovered."""

"""Code the tests share that is not a test: builders, reference solvers, helpers."""

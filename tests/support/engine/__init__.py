"""The matching engine's instance builders and independent reference solvers.

The engine's tests check it against them, and the benchmark (bench/bench_matching.py) runs
them as its peers: both import them from here, so neither depends on the other.
"""

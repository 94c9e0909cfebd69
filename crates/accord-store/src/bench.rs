//! Benchmarks the CLI runs as `accord bench store`.

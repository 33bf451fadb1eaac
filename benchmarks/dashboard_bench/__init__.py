"""The parts of benchmarks/dashboard.py, the entry point that says what each mode measures."""

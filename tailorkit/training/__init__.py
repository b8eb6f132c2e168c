"""Shared training machinery of the solutions: cross-validation, blends, ablation twins."""

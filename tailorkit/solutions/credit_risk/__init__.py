"""Credit risk: applications in, probability of default, score points and reason codes out.

Defaults: a logistic scorecard, LightGBM and an FT-Transformer with self-supervised
pretraining, blended on out-of-fold predictions; stratified 5-fold CV; AUC as the headline
metric; the classic 5:1 cost of accepting a bad applicant versus rejecting a good one.
The solution object is ``solution.SOLUTION``; this package imports nothing on its own.
"""

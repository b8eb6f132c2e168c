"""Diagnosis: patient records (table, clinical notes, images, visit sequences) in, disease
probability at a clinical operating point out, evaluated the way clinicians expect.

Defaults: logistic regression, LightGBM and an FT-Transformer on the table (blended on
out-of-fold predictions), plus one model per extra modality (note classifier on MiniLM,
small CNN on images, GRU on visits) and a late-fusion model when there are several;
stratified 5-fold CV, grouped by patient when a patient has several rows; the operating
point at sensitivity ≥ 0.90 chosen on out-of-fold predictions; AUROC as the headline.

The solution object is ``solution.SOLUTION``; this package imports nothing on its own.
"""

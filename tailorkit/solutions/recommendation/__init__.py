"""Recommendation: interactions (+ item text, attributes) in, top-K items per user out.

Defaults: popularity, ItemKNN, implicit ALS and a SASRec transformer (full-softmax
cross-entropy, masked-item pretraining, item text from the pretrained MiniLM); leave-one-out
by time with full ranking and seen items excluded; NDCG@10 as the headline metric. The
model best on the validation cases (the SASRec twin without pretraining competes too) is
refitted on every interaction, registered, and served by ``tailorkit recommend``. Users
without history get the popular items of their segments (the optional users table) where
validation says segments beat global popularity.

The solution object is ``solution.SOLUTION``; this package imports nothing on its own.
"""

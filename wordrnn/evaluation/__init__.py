"""Measuring models: metrics (perplexity, top-k, KSR), evaluation over text, the n-gram baseline, and fitting
the interpolation weights.
"""

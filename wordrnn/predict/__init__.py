"""Using a model: sampling, priming and feedback, beam search, the typing session, the Python API
(``Predictor``) and series forecasts.
"""

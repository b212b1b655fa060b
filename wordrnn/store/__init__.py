"""The model directory on disk: manifest, durable writes, the training lock, and loading without TensorFlow.
"""

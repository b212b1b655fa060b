"""Step runners ``step(inputs, state) -> (outputs, state)``: Keras, LiteRT, the n-gram/cache mixture, and the
LiteRT export of a model's step.
"""

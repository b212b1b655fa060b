"""The networks: the quiet TensorFlow import, extra recurrent cells and the model builders (explicit state).
"""

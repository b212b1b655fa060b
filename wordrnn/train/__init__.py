"""Training: contiguous stream batching, the stateful truncated-BPTT engine, tf.distribute, and the jobs that
wire corpus, model, engine and model directory together.
"""

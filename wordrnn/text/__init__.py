"""Text and series input: corpus reading, the tokenizer, the vocabulary, encoding to ids, prepared shards.

NumPy and NLTK only; nothing here imports TensorFlow or any other wordrnn layer but config/errors.
"""

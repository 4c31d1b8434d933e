"""Pretraining for verifications: embedded corpus, tokenizer, packed data, train loop.

Modules are imported directly (``genesys.trainer.data``, ``genesys.trainer.tokenizer``,
...); this package imports nothing heavy on its own.
"""

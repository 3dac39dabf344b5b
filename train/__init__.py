"""Losses, optimizers, the training loop and evaluation."""

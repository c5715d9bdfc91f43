"""Training, retraining and evaluation of the duplicate models, and the synthetic data to measure them."""

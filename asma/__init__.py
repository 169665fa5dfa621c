"""asma: asymmetric spatio-temporal masking for self-supervised skeleton action learning."""

__version__ = "0.1.0"

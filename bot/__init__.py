"""modelbot: git as the only road for models into production on SageMaker."""

__version__ = "0.1.0"

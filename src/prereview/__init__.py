"""prereview: voluntary pre-release reviews of frontier AI models' cyber capabilities."""

__version__ = "0.1.0"
